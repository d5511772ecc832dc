"""Send Channels group events after the transaction commits.

A sync worker (WSGI, Celery) publishing with `async_to_sync` would build an event loop and,
with the Redis layer, a new Redis connection for every event. Instead each process keeps one
event loop in a daemon thread for the layer, so its connection pool lives across requests;
the caller still waits (briefly) for the send to finish, so it knows whether it worked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from core import queue

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 0.5  # best-effort hints: never hold a request long when Redis is down

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """Return this process's publishing loop, starting its thread on first use."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="welddesk-realtime", daemon=True).start()
            _loop = loop
        return _loop


def publish_now(group: str, event: dict) -> bool:
    """Send an event to a channel group; return False if the layer is unreachable."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # The in-memory layer's queues belong to the caller's loop (tests, `make run`).
            async_to_sync(layer.group_send)(group, event)
        else:
            future = asyncio.run_coroutine_threadsafe(
                layer.group_send(group, event), _publisher_loop()
            )
            future.result(timeout=SEND_TIMEOUT_S)
    except Exception as exc:
        log.warning("could not publish %s to %s (%s)", event.get("type"), group, type(exc).__name__)
        return False
    return True


def publish_on_commit(group: str, event: dict, *, using: str | None = None) -> None:
    """Send the event after commit, so clients never see data that was rolled back; inside
    core.queue.batched(), with the block's other hand-overs when it ends."""
    transaction.on_commit(partial(_committed, group, event), using=using)


def _committed(group: str, event: dict) -> None:
    if not queue.event_committed(group, event):
        publish_now(group, event)
