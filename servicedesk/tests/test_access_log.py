"""The ASGI server started with the documented command prints no query string (they carry
search terms); the desk's own access line names the route instead."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from testsupport import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "wang.jianguo-at-hengrui-weld"


def documented_daphne_command(port: int) -> list[str]:
    """The Daphne line of docs/operations.md, to run here on a free port."""
    text = (ROOT / "docs" / "operations.md").read_text()
    (line,) = [
        ln for ln in text.splitlines() if re.match(r"^\.venv/bin/daphne\s.*servicedesk\.asgi", ln)
    ]
    words = shlex.split(line.split("#", 1)[0])
    words[words.index("-p") + 1] = str(port)
    return [sys.executable, "-m", "daphne", *words[1:]]


def _get(url: str, deadline: float) -> int:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                return response.status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_documented_daphne_command_logs_no_query_string(tmp_path):
    port = free_port()
    command = documented_daphne_command(port)
    assert command[-1] == "servicedesk.asgi:application"
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite3'}",
        "WELDDESK_VAR_DIR": str(tmp_path / "var"),
        "WELDDESK_STARTUP_CHECKS": "0",
    }
    env.pop("REDIS_URL", None)
    output = tmp_path / "daphne.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            assert (
                _get(
                    f"{base}/healthz?q={SECRET}&email={SECRET}%40example.com", time.monotonic() + 30
                )
                == 200
            )
            assert _get(f"{base}/healthz?search={SECRET}", time.monotonic() + 5) == 200
            time.sleep(0.3)  # let the access lines reach the file
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
    lines = output.read_text(errors="replace").splitlines()
    assert not [ln for ln in lines if SECRET in ln or "?q=" in ln], lines
    # The desk's own access line is there, with the route and without the query string.
    ours = [ln for ln in lines if "welddesk.access" in ln]
    assert len(ours) == 2 and all("GET /healthz 200" in ln for ln in ours), lines
