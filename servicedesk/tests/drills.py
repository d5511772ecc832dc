"""Fault drills: a desk of real processes, a load of API creates, and the checks after a fault.

The desk runs as it does in production, configured only through the environment: a Daphne
web process (or several, for test_failover.py), a Celery worker and Celery beat on the test
database, with a private redis-server (free port, no persistence) as cache, channel layer and
broker, so a drill can stop and start it without touching the machine's Redis. The load is a
partner system creating tickets through the API with Idempotency-Keys and retrying with the
same key after a timeout, a refused connection or a 5xx, as a careful client does.

After each fault `assert_caught_up` checks what must hold: every key has its 201 and exactly
one ticket, every outbox row is sent exactly once (counted in the mail files the worker
writes), audit sealing has caught up, `audit_verify` passes, and the worker and beat are
still running by themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from testsupport import free_port

ROOT = Path(__file__).resolve().parents[2]


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _wait(predicate, *, seconds: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


class PrivateRedis:
    """A redis-server of the drill's own on a free loopback port, without persistence (what
    a restart loses, the outbox must make up for)."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - closed by the OS
        self.process = subprocess.Popen(
            [
                redis_server_binary() or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait(self._ping, seconds=10, what=f"redis-server on {self.port}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def database_url() -> str:
    from chat.tests.servers import database_url as url

    return url()


class Desk:
    """The desk's processes for one drill; `stop` ends all of them (bounded)."""

    def __init__(
        self,
        directory: Path,
        redis: PrivateRedis,
        *,
        send_seconds: float = 0.05,
        env: dict[str, str] | None = None,
    ):
        self.directory = directory
        self.redis = redis
        self.mail_dir = directory / "mail"
        self.marks_dir = directory / "marks"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.marks_dir.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen] = {}
        self.web_port: int | None = None
        self.ports: dict[str, int] = {}  # web process name -> its port
        self.env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": database_url(),
            "DB_CONN_MAX_AGE": "60",  # persistent connections, as documented for production
            "REDIS_URL": redis.url(0),
            "CHANNEL_LAYER_PREFIX": f"drill{redis.port}:asgi",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECRET_KEY": settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
            "WELDDESK_VAR_DIR": str(directory / "var"),
            "WELDDESK_STARTUP_CHECKS": "1",
            "AUDIT_SEALING": "deferred",
            "EMAIL_BACKEND": "servicedesk.tests.drill_mail.DrillEmailBackend",
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "DRILL_MARKS_DIR": str(self.marks_dir),
            "DRILL_SEND_SECONDS": str(send_seconds),
            "OUTBOX_SWEEP_AFTER_SECONDS": "3",
            "API_KEY_RATE_PER_MINUTE": "100000",
            "LOG_LEVEL": "INFO",
        }
        self.env.pop("CELERY_BROKER_URL", None)
        self.env.pop("CELERY_EAGER", None)
        self.env.update(env or {})  # a drill's own settings

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 - closed by the OS
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches the pool too
        )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_web(self, name: str = "web", *, port: int | None = None, wait: bool = True) -> int:
        """Start a Daphne web process (on `port`, e.g. the one a killed process had, or a free
        one); `web_port` is the first one's."""
        port = port or free_port()
        self.ports[name] = port
        if name == "web":
            self.web_port = port
        self._start(
            name,
            [
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "servicedesk.asgi:application",
            ],
        )
        if wait:
            self.wait_ready(name)
        return port

    def start_worker(self, name: str = "worker", *, wait: bool = True) -> subprocess.Popen:
        process = self._start(
            name,
            [
                "-m",
                "celery",
                "-A",
                "servicedesk",
                "worker",
                "-c",
                "2",
                "-n",
                f"{name}@drill",
                "-l",
                "INFO",
            ],
        )
        if wait:
            self.wait_ready(name)
        return process

    def start_beat(self, *, wait: bool = True) -> subprocess.Popen:
        pidfile = self.directory / "beat.pid"
        process = self._start(
            "beat",
            ["-m", "celery", "-A", "servicedesk", "beat", "-l", "INFO", "--pidfile", str(pidfile)],
        )
        if wait:
            self.wait_ready("beat")
        return process

    # What each kind of process logs once it does its work.
    READY = {"beat": "Sending due task", "worker": " ready."}  # a web process: its port answers

    def wait_ready(self, name: str, seconds: float = 90) -> None:
        """Wait until a process serves (the web port answers; a worker is ready; beat has sent
        its first task); fail with its log if it exits first."""
        import socket

        process = self.processes[name]
        mark = None if name in self.ports else self.READY.get(name, self.READY["worker"])

        def ready() -> bool:
            if process.poll() is not None:
                return True
            if mark is None:
                try:
                    socket.create_connection(("127.0.0.1", self.ports[name]), timeout=0.2).close()
                except OSError:
                    return False
                return True
            return mark in self.log(name)

        _wait(ready, seconds=seconds, what=f"{name} to be ready", step=0.2)
        assert process.poll() is None, f"{name} exited:\n{self.log(name)[-3000:]}"

    def start_all(self, *, webs: int = 1) -> int:
        """Start the web process (and `webs - 1` more: web2, web3 ...), a worker and beat
        together; return the first web port."""
        names = ["web", *(f"web{n}" for n in range(2, webs + 1))]
        port = self.start_web(wait=False)
        for name in names[1:]:
            self.start_web(name, wait=False)
        self.start_worker(wait=False)
        self.start_beat(wait=False)
        for name in (*names, "worker", "beat"):
            self.wait_ready(name)
        return port

    def kill(self, name: str) -> None:
        """SIGKILL a process and its children (a worker node lost at once)."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def assert_running(self, *names: str) -> None:
        for name in names:
            process = self.processes[name]
            assert process.poll() is None, (
                f"{name} exited with {process.returncode}:\n{self.log(name)[-4000:]}"
            )

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()

    def mails_by_delivery(self) -> Counter:
        """How many messages were written per delivery (X-WeldDesk-Delivery header)."""
        found: Counter = Counter()
        for path in self.mail_dir.glob("*.log"):
            found.update(re.findall(r"^X-WeldDesk-Delivery: (\w+)$", path.read_text(), re.M))
        return found


def prepare_schedules(*, every_seconds: int = 2) -> None:
    """Beat runs only the two schedules the drills watch, every few seconds: audit sealing
    and the outbox sweep (the others would only add load to a two-core machine)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from core.periodic import ensure_periodic_tasks

    ensure_periodic_tasks()
    fast, _ = IntervalSchedule.objects.get_or_create(
        every=every_seconds, period=IntervalSchedule.SECONDS
    )
    watched = ["audit: seal pending events", "notifications: sweep the outbox"]
    PeriodicTask.objects.exclude(name__in=watched).update(enabled=False)
    PeriodicTask.objects.filter(name__in=watched).update(interval=fast, crontab=None)


@dataclass
class ApiLoad:
    """A partner system creating tickets through the API, retrying each with its key."""

    base_url: str
    token: str
    unit: str
    every_seconds: float = 0.3
    threads: int = 2
    request_timeout: float = 10.0
    give_up_after: float = 120.0
    answers: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    slowest_201: float = 0.0
    created_at: list[tuple[float, float]] = field(default_factory=list)  # (started, seconds)
    retried: dict[str, float] = field(default_factory=dict)  # key -> first attempt to its 201
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: int = 0

    def post(self, key: str) -> tuple[int, dict]:
        body = {
            "subject": f"Drill {key}",
            "body": "Wire feed stops under load.",
            "kind": "fault",
            "priority": 3,
            "unit": self.unit,
        }
        request = urllib.request.Request(  # noqa: S310 - http to the drill's own server
            f"{self.base_url}/api/v1/tickets/",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Api-Key {self.token}",
                "Idempotency-Key": key,
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                return exc.code, json.loads(text or b"{}")
            except ValueError:
                return exc.code, {"raw": text[:200].decode(errors="replace")}

    def create(self, key: str) -> None:
        """POST until a 201 (or a 4xx other than 409 in flight), with the same key."""
        first = time.monotonic()
        deadline = first + self.give_up_after
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status, data = self.post(key)
            except (OSError, urllib.error.URLError):
                status, data = 0, {}
            elapsed = time.monotonic() - started
            with self._lock:
                self.answers.setdefault(key, []).append((status, data.get("reference", "")))
                if status == 201:
                    self.references[key] = data["reference"]
                    self.slowest_201 = max(self.slowest_201, elapsed)
                    self.created_at.append((started, elapsed))
                    if len(self.answers[key]) > 1:
                        self.retried[key] = started + elapsed - first
            if status == 201 or (400 <= status < 500 and status != 409):
                return
            time.sleep(0.5)

    def _run(self, thread: int) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._count += 1
                key = f"drill-{thread}-{self._count}"
            self.create(key)
            self._stop.wait(self.every_seconds)

    def latencies_between(self, start: float, end: float) -> list[float]:
        """How long each 201 took, for requests started between two monotonic times."""
        with self._lock:
            return sorted(s for at, s in self.created_at if start <= at <= end)

    def start(self) -> None:
        self._stop.clear()
        self._workers = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.give_up_after + 15)


def delivery_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def assert_caught_up(
    desk: Desk,
    load: ApiLoad,
    *,
    running: tuple[str, ...] = ("web", "worker", "beat"),
    seconds: float = 90,
) -> dict[str, float]:
    """What must hold after a fault, once the desk had `seconds` to catch up by itself."""
    from django.core.management import call_command

    from audit.models import PendingAuditEvent
    from notifications.models import Channel, Outbox, Status
    from tickets.models import Ticket

    started = time.monotonic()
    # Every key ended with a 201 and exactly one ticket; no ticket without its key.
    unanswered = {k: a for k, a in load.answers.items() if k not in load.references}
    assert not unanswered, f"keys without a 201: {list(unanswered.items())[:5]}"
    assert load.references, "the load created nothing"
    references = list(load.references.values())
    assert len(set(references)) == len(references), "two keys got the same ticket"
    tickets = Counter(
        Ticket.objects.filter(subject__startswith="Drill ").values_list("reference", flat=True)
    )
    assert set(tickets) == set(references), (
        f"tickets without a 201: {set(tickets) - set(references)}; "
        f"201s without a ticket: {set(references) - set(tickets)}"
    )
    assert all(n == 1 for n in tickets.values())

    # Every outbox row is delivered, exactly once.
    _wait(
        lambda: not Outbox.objects.filter(status=Status.PENDING).exists(),
        seconds=seconds,
        what="the outbox to drain",
        step=0.5,
    )
    rows = list(Outbox.objects.values_list("key", "status", "channel"))
    assert rows, "the load wrote no outbox rows"
    assert {status for _key, status, _channel in rows} == {Status.SENT}
    time.sleep(1.0)  # a duplicate delivery in flight would land now
    mails = desk.mails_by_delivery()
    # An organisation's ticket event is no message: the worker fans it out to the
    # organisation's webhook endpoints (none here), each a row of its own.
    expected = {delivery_id(key) for key, _status, channel in rows if channel != Channel.ORG_EVENT}
    assert {d: n for d, n in mails.items() if n != 1} == {}, "a message was sent twice"
    assert set(mails) == expected, f"{len(expected - set(mails))} sent rows have no message"

    # Audit sealing caught up (beat and the worker seal by themselves) and the chain verifies.
    _wait(
        lambda: not PendingAuditEvent.objects.exists(),
        seconds=seconds,
        what="audit sealing to catch up",
        step=0.5,
    )
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert "audit chain OK" in out.getvalue()
    desk.assert_running(*running)
    return {
        "tickets": len(references),
        "outbox_rows": len(rows),
        "catch_up_seconds": round(time.monotonic() - started, 1),
        "slowest_201_seconds": round(load.slowest_201, 2),
    }
