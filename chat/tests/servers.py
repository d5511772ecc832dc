"""Daphne servers in subprocesses against the test database, for cross-process chat tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

from testsupport import free_port

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        user, host = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1"
        return f"postgres://{user}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def _wait_for(port: int, process: subprocess.Popen, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server on {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"server on {port} did not start")


@contextlib.contextmanager
def daphne_servers(
    count: int,
    log_dir: Path,
    *,
    redis: bool,
    app: str = "servicedesk.asgi:application",
    settings_module: str = "servicedesk.settings",
    debug: bool = True,
    extra_env: dict[str, str] | None = None,
    launcher: str = "daphne",
) -> Iterator[list[int]]:
    """Start `count` Daphne processes on free loopback ports; stop them afterwards.

    `launcher`: the module run as `python -m` with Daphne's arguments (the chat benchmark
    compares Daphne on uvloop, bench/daphne_uvloop.py)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "1" if debug else "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "http://127.0.0.1",
        "CLAMD_ADDRESS": settings.CLAMD_ADDRESS or "off",
        "WELDDESK_STARTUP_CHECKS": "0",
        # The test process's own keys: sessions, encrypted fields and blind indexes must match.
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
        "WELDDESK_VAR_DIR": str(log_dir / "var"),
        "DJANGO_SETTINGS_MODULE": settings_module,
        # Daphne runs database work in one thread per process: keep its connection.
        "DB_CONN_MAX_AGE": "60",
    }
    env.update(extra_env or {})
    if redis:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    ports = [free_port() for _ in range(count)]
    processes = []
    try:
        for port in ports:
            log = open(log_dir / f"daphne-{port}.log", "wb")  # noqa: SIM115 (closed by the OS)
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        launcher,
                        "-v",  # as docs/operations.md: no access log with query strings
                        "0",
                        "-b",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        app,
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for port, process in zip(ports, processes, strict=True):
            _wait_for(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
