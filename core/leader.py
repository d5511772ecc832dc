"""One holder at a time across processes and hosts: the lock that keeps a second Celery beat
waiting (servicedesk/beat.py).

Two beats would schedule every periodic task twice: two SLA scans, two retention runs, two
audit checkpoints a period. Deployments say "run exactly one", and this makes a mistake
harmless: a second beat waits until the first is gone, then takes over.

On PostgreSQL the lock is a session advisory lock held on a connection of its own (not
Django's, which Celery and Django close and reopen freely). The server releases it when that
connection ends, so a killed beat (or a host that vanished, once its TCP session times out)
frees it without any expiry to tune, and a beat whose connection dropped knows it lost the
lock. On SQLite (one host, development) it is an exclusive flock on a file beside the
database, released by the kernel when the process exits.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)


def _key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(
        hashlib.sha256(f"welddesk:{name}".encode()).digest()[:8], "big", signed=True
    )


class Leadership:
    """`acquire()` tries once and says whether this process now holds the lock; `held()`
    checks it still does (the connection is alive); `release()` lets it go."""

    def __init__(self, name: str, *, database: str = "default") -> None:
        self.name = name
        self._db = settings.DATABASES[database]
        self._conn: Any = None
        self._file: Any = None

    @property
    def _postgres(self) -> bool:
        return "postgresql" in self._db["ENGINE"]

    def acquire(self) -> bool:
        if self.held():
            return True
        return self._acquire_postgres() if self._postgres else self._acquire_file()

    def held(self) -> bool:
        if self._postgres:
            if self._conn is None:
                return False
            try:
                self._conn.execute("SELECT 1").fetchone()
                return True
            except Exception:  # the session ended: the server released the lock with it
                self._drop()
                return False
        return self._file is not None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", [_key(self.name)])
            except Exception:
                log.debug("advisory unlock failed; closing the connection frees it", exc_info=True)
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._drop()

    # ---------------------------------------------------------------------------- backends

    def _acquire_postgres(self) -> bool:
        import psycopg

        db = self._db
        try:
            conn = psycopg.connect(
                dbname=db["NAME"],
                user=db.get("USER") or None,
                password=db.get("PASSWORD") or None,
                host=db.get("HOST") or None,
                port=db.get("PORT") or None,
                autocommit=True,
                connect_timeout=5,
                application_name=f"welddesk {self.name} lock",
                # Notice a vanished peer within about a minute, not the kernel's two hours.
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
        except Exception as exc:
            log.warning("lock %s: the database does not answer (%s)", self.name, type(exc).__name__)
            return False
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", [_key(self.name)]).fetchone()[0]
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _acquire_file(self) -> bool:
        path = Path(str(self._db["NAME"])).with_name(f".{self.name}.lock")
        if not path.parent.is_dir():  # an in-memory test database: fall back to var/
            path = Path(settings.VAR_DIR) / f".{self.name}.lock"
        handle = open(path, "a+")  # noqa: SIM115 - held open for the life of the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing the lock connection failed", exc_info=True)
        if self._file is not None:
            self._file.close()
        self._conn = self._file = None
