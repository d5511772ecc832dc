"""A WSGI server on loopback and concurrent HTTP clients for the throughput benchmarks.

`serve` runs gunicorn with sync workers on a free 127.0.0.1 port, in production mode
(DEBUG off) with the benchmark's settings, and always stops its whole process group. `drive`
posts from N client threads and counts only the answers that complete inside a measured
window, so start-up and drain do not dilute the rate.
"""

from __future__ import annotations

import http.client
import itertools
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections

from testsupport import free_port

ROOT = Path(__file__).resolve().parent.parent
# Seconds of each drive that are load but not measured (clients start, queues fill).
SETTLE_SECONDS = 1.0


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def summary(samples: list[float], *, p99: bool = False) -> dict[str, float]:
    """Median and 95th percentile in milliseconds (and the 99th with `p99`)."""
    if not samples:
        return {"median_ms": 0.0, "p95_ms": 0.0, **({"p99_ms": 0.0} if p99 else {})}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    out = {"median_ms": ms(statistics.median(ordered)), "p95_ms": ms(rank(0.95))}
    if p99:
        out["p99_ms"] = ms(rank(0.99))
    return out


def as_in_production(run: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """Run a benchmark's body as production runs: no query log, templates without debug
    information (a new TEMPLATES value makes Django rebuild its engines under DEBUG off), and
    the INFO lines of every request and task silenced (they would bury the figures)."""
    import copy
    import logging

    from django.test.utils import override_settings

    logging.disable(logging.INFO)
    try:
        with override_settings(DEBUG=False, TEMPLATES=copy.deepcopy(settings.TEMPLATES)):
            return run(**kwargs)
    finally:
        logging.disable(logging.NOTSET)


def load_average() -> float | None:
    """The 1-minute load average: other work on the machine skews every figure."""
    try:
        with open("/proc/loadavg") as fh:
            return float(fh.read().split()[0])
    except OSError:
        return None


# ---------------------------------------------------------------------------------- server


def server_env() -> dict[str, str]:
    """The server's environment: production mode, with the keys the data was written with."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="0",
        # This process's keys (throwaway development keys unless the caller set real ones), so
        # the server can read what the seed encrypted.
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        BLIND_INDEX_KEY=settings.BLIND_INDEX_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_MANIFEST="0",  # no collectstatic for a JSON benchmark
        WELDDESK_STARTUP_CHECKS="1",
        # One key sends every request: lift the per-key rate limit (the throttle still runs).
        API_KEY_RATE_PER_MINUTE="100000000",
        API_USER_RATE_PER_MINUTE="100000000",
    )
    env.setdefault("DB_CONN_MAX_AGE", "60")
    # What production mode insists on and a JSON benchmark does not use: the links of the
    # e-mails composed (never sent) and the virus scanner (no uploads are posted).
    env.setdefault("SITE_URL", "https://bench.example.com")
    env.setdefault("CLAMD_ADDRESS", "off")
    return env


class Address(tuple):
    """(host, port) of a running server, and the process groups doing its work (gunicorn's
    master and workers, the audit sealer beside them), whose CPU time `CpuMeter` reads."""

    groups: tuple[int, ...]

    def __new__(cls, host: str, port: int, *, groups: tuple[int, ...]) -> Address:
        address = super().__new__(cls, (host, port))
        address.groups = groups
        return address


@contextmanager
def serve(*, workers: int, log_path: Path) -> Iterator[Address]:
    """Run gunicorn (sync workers) on a free loopback port; stop its process group after."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "servicedesk.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=sync",
        "--backlog=2048",
        "--timeout=120",
        "--graceful-timeout=5",
        f"--chdir={ROOT}",
    ]
    connections.close_all()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the workers stop with it
        )
        # The periodic audit sealer runs beside the server, as the Celery worker does in
        # production, so the database does the chain's work during the measurement too.
        sealer = subprocess.Popen(
            [sys.executable, "-c", SEALER],
            cwd=ROOT,
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(port, proc, timeout=60)
            # Each was started in a session of its own: its pid is its process group.
            yield Address("127.0.0.1", port, groups=(proc.pid, sealer.pid))
        finally:
            _stop(sealer)
            _stop(proc)


SEALER = """
import time, django
django.setup()
from django.conf import settings
from audit.services import audit_seal
while True:
    audit_seal()
    time.sleep(settings.AUDIT_SEAL_EVERY_SECONDS)
"""


def _wait_ready(port: int, proc: subprocess.Popen, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode} (see its log)")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


# ---------------------------------------------------------------------------------- clients


HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "X-Forwarded-Proto": "https",  # as nginx would send; the desk redirects plain HTTP
}


def _post(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict) -> tuple:
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.will_close:
        conn.close()  # sync workers close after each answer; the next request reconnects
    return response.status, data


def probe(address: tuple[str, int], path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    """POST once and return (status, body)."""
    conn = http.client.HTTPConnection(*address, timeout=60)
    try:
        return _post(conn, path, body, {**HEADERS, **headers})
    finally:
        conn.close()


@dataclass
class Load:
    """What the clients saw: latencies of the 2xx answers, every answer's code, wall time."""

    latencies: list[float] = field(default_factory=list)
    codes: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, other: Load) -> None:
        self.latencies += other.latencies
        self.codes += other.codes
        self.seconds += other.seconds

    def report(self) -> dict[str, Any]:
        ok = len(self.latencies)
        total = sum(self.codes.values())
        return {
            "requests": total,
            "successes": ok,
            "errors": total - ok,
            "answers": {str(k): v for k, v in sorted(self.codes.items(), key=str)},
            "seconds": round(self.seconds, 2),
            "per_s": round(ok / self.seconds, 1) if self.seconds else 0.0,
            **summary(self.latencies),
        }


def drive(
    address: tuple[str, int],
    *,
    path: str,
    body: Callable[[int, int], bytes],
    headers: dict[str, str],
    clients: int,
    seconds: float,
) -> Load:
    """POST from `clients` threads; count answers completing in a `seconds`-long window.

    The window opens SETTLE_SECONDS after the clients start and closes `seconds` later; answers
    before or after it are load but not counted. Only 2xx answers count as successes.
    """
    headers = {**HEADERS, **headers}
    load = Load(seconds=seconds)
    lock = threading.Lock()
    opens = time.perf_counter() + SETTLE_SECONDS
    closes = opens + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(*address, timeout=60)
        latencies: list[float] = []
        codes: Counter = Counter()
        n = 0
        while time.perf_counter() < closes:
            n += 1
            sent = time.perf_counter()
            try:
                status, _data = _post(conn, path, body(i, n), headers)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                status = type(exc).__name__
            done = time.perf_counter()
            if not opens <= done <= closes:
                continue
            codes[status] += 1
            if isinstance(status, int) and 200 <= status < 300:
                latencies.append(done - sent)
        conn.close()
        with lock:
            load.latencies += latencies
            load.codes += codes

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SETTLE_SECONDS + seconds + 90)
    return load


# ---------------------------------------------------------------------------------- paced


@dataclass
class Shot:
    """One request of a paced run: when to send it (seconds after the start) and what.

    `after`: the index of an earlier shot whose answer must come first (one machine's batches
    reach the desk in the machine's order, as its gateway sends them)."""

    at: float
    path: str
    body: bytes
    headers: dict[str, str]
    after: int | None = None


@dataclass
class Answer:
    """What one shot got: the status (or the exception's name) and body, and when it was
    sent and answered (seconds after the start; sent later than `at` when every sender was
    busy or the shot waited for its `after`)."""

    status: int | str
    data: bytes
    sent: float
    done: float

    @property
    def ok(self) -> bool:
        return isinstance(self.status, int) and 200 <= self.status < 300


def pace(address: tuple[str, int], shots: list[Shot], *, senders: int) -> list[Answer]:
    """Send each shot at its time whether or not the earlier ones were answered (an open
    loop: a server slower than the offered rate falls behind, and the time from a shot's `at`
    to its answer shows by how much), from `senders` threads; answers in the shots' order.

    A dispatcher hands the shots over in the order of `at` when their time comes; a sender
    whose shot has an `after` waits for that answer first (it was handed over earlier, so
    some sender holds it already: no deadlock).
    """
    if any(a.at > b.at for a, b in itertools.pairwise(shots)):
        raise ValueError("shots must be in the order of their time")
    answers: list[Answer | None] = [None] * len(shots)
    answered = [threading.Event() for _ in shots]
    work: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    start = time.perf_counter() + 0.1

    def dispatcher() -> None:
        for i, shot in enumerate(shots):
            delay = start + shot.at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            work.put(i)
        for _ in range(senders):
            work.put(None)

    def sender() -> None:
        conn = http.client.HTTPConnection(*address, timeout=60)
        while (i := work.get()) is not None:
            shot = shots[i]
            if shot.after is not None:
                answered[shot.after].wait()
            sent = time.perf_counter() - start
            try:
                status, data = _post(conn, shot.path, shot.body, {**HEADERS, **shot.headers})
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                status, data = type(exc).__name__, b""
            answers[i] = Answer(status, data, sent, time.perf_counter() - start)
            answered[i].set()
        conn.close()

    threads = [threading.Thread(target=dispatcher, daemon=True)]
    threads += [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    last = shots[-1].at if shots else 0.0
    for t in threads:
        t.join(timeout=last + 120)
    missing = sum(answer is None for answer in answers)
    if missing:
        raise RuntimeError(f"{missing} shots were not answered within 120 s of the last one")
    return answers  # type: ignore[return-value]


# ---------------------------------------------------------------------------------- CPU time

_TICK = os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent over a span by the server's processes and by the database's backends.

    The server: every process of `address.groups` (gunicorn's master and workers, the audit
    sealer). The database: the PostgreSQL backends serving the benchmark's database (the
    workers' connections, autovacuum), found on this host by their process titles
    (`postgres: <user> <database> ...`), less the bench process's own connection; the
    server-wide processes (WAL writer, checkpointer) serve other databases too and are left
    out. Sampled every `every` seconds from /proc: a process that ends within the span counts
    up to its last sample, one that starts within it from zero. `client`: this process's own
    CPU seconds (the load generator shares the machine).
    """

    def __init__(self, address: Address, *, every: float = 0.5) -> None:
        self.groups = set(address.groups)
        self.every = every
        postgres = connection.vendor == "postgresql"
        self.database = connection.settings_dict["NAME"] if postgres else ""
        self.own_backend = 0
        self.first: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self._titles: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.seconds: dict[str, float] = {}
        self.client = 0.0

    def __enter__(self) -> CpuMeter:
        self.client = -time.process_time()
        if self.database:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.own_backend = cursor.fetchone()[0]
        self._sample()
        self.first = {pid: cpu for pid, (_kind, cpu) in self.last.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.client = round(self.client + time.process_time(), 2)
        totals = {"server": 0.0, "database": 0.0}
        for pid, (kind, cpu) in self.last.items():
            totals[kind] += cpu - self.first.get(pid, 0.0)
        self.seconds = {kind: round(value, 2) for kind, value in totals.items()}

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def _kind(self, pid: int, group: int) -> str | None:
        if group in self.groups:
            return "server"
        if not self.database or pid == self.own_backend:
            return None
        if pid not in self._titles:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    self._titles[pid] = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                return None
        # "postgres: [cluster:] <user> <database> <client> <state>", "postgres: [cluster:]
        # autovacuum worker <database>"
        words = self._titles[pid].split()
        is_backend = words[:1] == ["postgres:"] and self.database in words[1:5]
        return "database" if is_backend else None

    def _sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            kind = self._kind(pid, int(fields[2]))
            if kind is not None:
                self.last[pid] = (kind, (int(fields[11]) + int(fields[12])) / _TICK)
