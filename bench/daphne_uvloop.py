"""Daphne on uvloop's event loop: `python -m bench.daphne_uvloop <daphne's arguments>`.

Daphne makes its loop with asyncio.new_event_loop() when daphne.server is imported and runs
Twisted's asyncio reactor on it; setting uvloop's policy first gives that reactor uvloop's
loop. The chat benchmark compares the two (BENCH_CHAT_LAUNCHER=bench.daphne_uvloop);
uvloop is not a dependency of the desk (docs/performance.md, Chat).
"""

import asyncio

import uvloop

asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

from daphne.cli import CommandLineInterface  # noqa: E402  (after the policy, on purpose)

CommandLineInterface.entrypoint()
