"""Failover behind nginx: one of two Daphne processes killed under load, and restarted.

Debian's nginx runs the shipped deploy/nginx files on loopback (servicedesk/tests/
nginx_server.py) with the shipped upstream (max_fails, fail_timeout, a backup server that is
not started here) pointed at two Daphne processes of a drill desk (servicedesk/tests/
drills.py: a Celery worker, beat and a private redis-server on the test database). Through
nginx, for about twenty seconds: a customer reads portal pages with their session cookie, a
partner system lists tickets through the API and creates tickets with Idempotency-Keys
(retrying a failed create with the same key), and the customer chats over a WebSocket.

The Daphne holding the chat socket is killed with SIGKILL mid-load and restarted a few seconds
later. What must hold:

- every GET succeeds: nginx passes a request the dead process refused or dropped to the other
  one (`proxy_next_upstream error timeout ...`); a POST it does not pass on (nginx never
  retries a non-idempotent request by default), so the client retries it with its key and
  every key ends with exactly one ticket (`assert_caught_up`);
- the chat customer's socket drops, reconnects through nginx with the browser's backoff,
  resumes from the last number it saw and resends its unacknowledged messages with their
  client ids: the transcript holds every message once, in order, and the client saw each
  once;
- the restarted process serves again once nginx's fail_timeout has passed.

The failover times (the kill to the first request served after it, to the chat's resumption,
and the restart to the restarted process's first request) are logged; docs/operations.md
("nginx in front") quotes a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from servicedesk.tests.drills import assert_caught_up
from servicedesk.tests.nginx_server import need_nginx, nginx_config, running_nginx, shipped_upstream
from testsupport import free_port, sign_in

log = logging.getLogger("welddesk.drills")

pytestmark = [
    pytest.mark.fault_drill,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

PORTAL_PAGES = ("/portal/", "/portal/tickets/")
API_LIST = "/api/v1/tickets/"


@dataclass
class Outcome:
    path: str
    started: float  # monotonic
    seconds: float
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    error: str = ""


@dataclass
class ReadLoad:
    """Readers through nginx: a signed-in customer's portal pages and the partner's ticket
    list in the API, each answer recorded (no retry of its own: nginx must cover a failure)."""

    base_url: str
    cookie: str
    token: str
    threads: int = 3
    every_seconds: float = 0.1
    request_timeout: float = 10.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, path: str) -> Outcome:
        if path.startswith("/api/"):
            headers = {"Authorization": f"Api-Key {self.token}"}
        else:
            headers = {"Cookie": self.cookie}
        request = urllib.request.Request(f"{self.base_url}{path}", headers=headers)  # noqa: S310
        started = time.monotonic()
        status, error = 0, ""
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as response:  # noqa: S310
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status, error = exc.code, exc.read()[:200].decode(errors="replace")
        except OSError as exc:  # refused, reset, timed out (URLError is one)
            error = repr(exc)
        return Outcome(path, started, time.monotonic() - started, status, error)

    def _run(self, thread: int) -> None:
        paths = [*PORTAL_PAGES, API_LIST]
        n = thread
        while not self._stop.is_set():
            outcome = self.get(paths[n % len(paths)])
            n += 1
            with self._lock:
                self.outcomes.append(outcome)
            self._stop.wait(self.every_seconds)

    def start(self) -> None:
        self._workers = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.request_timeout + 5)


class ChatCustomer:
    """A customer's chat page, as static/chat/chat.js behaves: messages are kept until their
    `ack` and resent with the same client id after a reconnect; on every connect the client
    sends `resume` with the highest number it has; a gap asks for a resume; a dropped socket
    is reconnected after 1 s, doubling up to 15 s. Runs its own event loop in a thread."""

    def __init__(self, url: str, origin: str, cookie: str, *, every_seconds: float = 0.3):
        self.url, self.origin, self.cookie = url, origin, cookie
        self.every_seconds = every_seconds
        self.last_seq = 0
        self.pending: dict[str, str] = {}  # client id -> body, until its ack
        self.sent: list[str] = []  # client ids in the order they were written
        self.acked: dict[str, int] = {}  # client id -> seq
        self.shown: dict[int, dict] = {}  # seq -> message frame, as the page shows them
        self.repeats: list[int] = []  # message frames for a seq already shown
        self.problems: list[str] = []
        self.opened: list[float] = []  # monotonic times of each connection
        self.dropped: list[float] = []
        self.resumed: list[float] = []
        self.acks_at: list[float] = []
        self._finish = threading.Event()
        self._give_up_at = float("inf")
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, *, within: float = 40.0) -> None:
        """Stop writing; wait (bounded) until every message sent is acknowledged."""
        self._give_up_at = time.monotonic() + within
        self._finish.set()
        self._thread.join(timeout=within + 10)

    async def _run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        delay = 1.0
        while time.monotonic() < self._give_up_at:
            try:
                async with connect(
                    self.url,
                    origin=self.origin,
                    additional_headers={"Cookie": self.cookie},
                    open_timeout=10,
                ) as ws:
                    self.opened.append(time.monotonic())
                    delay = 1.0
                    await ws.send(json.dumps({"type": "resume", "last_seq": self.last_seq}))
                    for client_id, body in list(self.pending.items()):
                        await self._send(ws, client_id, body)
                    writer = asyncio.create_task(self._write(ws))
                    try:
                        if await self._read(ws):
                            return
                    finally:
                        writer.cancel()
                        with contextlib.suppress(asyncio.CancelledError, WebSocketException):
                            await writer
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.dropped.append(time.monotonic())
                log.info("chat socket dropped: %r", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)
        self.problems.append(f"gave up with {len(self.pending)} unacknowledged messages")

    async def _send(self, ws, client_id: str, body: str) -> None:
        await ws.send(json.dumps({"type": "message", "client_id": client_id, "body": body}))

    async def _write(self, ws) -> None:
        """A message every `every_seconds` until finish (kept in `pending` before it is sent,
        so one lost with the socket is resent on the next)."""
        while not self._finish.is_set():
            client_id = f"fo-{len(self.sent) + 1}"
            body = f"Wire feed check {len(self.sent) + 1}"
            self.sent.append(client_id)
            self.pending[client_id] = body
            await self._send(ws, client_id, body)
            await asyncio.sleep(self.every_seconds)

    def _done(self) -> bool:
        """After finish: nothing unacknowledged, and every acknowledged message also shown.
        The ack and the message's fan-out are two frames; stopping at the last ack alone
        left its message frame unread now and then (a CI run missed seq 59 of 59)."""
        shown = self.shown
        return (
            self._finish.is_set()
            and not self.pending
            and all(seq in shown for seq in self.acked.values())
        )

    async def _read(self, ws) -> bool:
        """Handle frames until the socket drops (raises) or, after finish, nothing is
        unacknowledged or unshown (True)."""
        while not self._done():
            if time.monotonic() > self._give_up_at:
                return False
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=1.0))
            except TimeoutError:
                continue
            kind = frame.get("type")
            if kind == "ack":
                seq = self.acked.setdefault(frame["client_id"], frame["seq"])
                if seq != frame["seq"]:
                    self.problems.append(f"{frame['client_id']} acked as {seq} and {frame['seq']}")
                self.pending.pop(frame["client_id"], None)
                self.acks_at.append(time.monotonic())
            elif kind == "message":
                seq = frame["seq"]
                if seq in self.shown:
                    self.repeats.append(seq)
                elif seq > self.last_seq + 1:  # a gap: fetch what is missing, in order
                    await ws.send(json.dumps({"type": "resume", "last_seq": self.last_seq}))
                else:
                    self.shown[seq] = frame
                    self.last_seq = max(self.last_seq, seq)
                    self.pending.pop(frame["client_id"], None)
            elif kind == "resumed":
                self.resumed.append(time.monotonic())
            elif kind == "error":
                self.problems.append(f"error frame {frame}")
                if frame.get("code") == "unavailable" and frame.get("client_id") in self.pending:
                    await asyncio.sleep(2)  # not stored: the page sends it again after 2 s
                    client_id = frame["client_id"]
                    await self._send(ws, client_id, self.pending[client_id])
        return True


def established_on(ports: set[int]) -> list[int]:
    """The local ports among `ports` with an established TCP connection (the server side of a
    socket: nginx keeps no idle connections to the upstream, so only the WebSocket stays)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        port = int(fields[1].split(":")[1], 16)
        if fields[3] == "01" and port in ports:
            found.append(port)
    return found


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_daphne_killed_under_load_behind_nginx(
    drill, partner, tmp_path, make_customer, make_unit, queue_setup
):
    """GETs never fail, creates end with one ticket per key, the chat loses and doubles
    nothing, and the killed process serves again after its restart (module docstring)."""
    pytest.importorskip("websockets.asyncio.client")
    binary = need_nginx()
    if not Path("/proc/net/tcp").exists():
        pytest.skip("finds the socket's process through /proc/net/tcp (Linux)")
    from chat import presence, services
    from chat.models import ChatMessage

    _redis, make_desk = drill
    # A claim left by a create killed mid-request is taken over as soon as its database
    # session is gone (core.idempotency), not after IDEMPOTENCY_STALE_SECONDS (5 min, kept);
    # unbuffered logs tell when the restarted process serves.
    env = {"PYTHONUNBUFFERED": "1"}
    desk, creates = make_desk(webs=2, env=env)
    webs = {"web": desk.ports["web"], "web2": desk.ports["web2"]}
    port = free_port()
    (tmp_path / "nginx").mkdir()
    upstream = shipped_upstream({8001: webs["web"], 8002: webs["web2"], 8009: free_port()})
    config = nginx_config(tmp_path / "nginx", port, tmp_path / "nginx", upstream=upstream)
    base = f"http://127.0.0.1:{port}"
    creates.base_url = base

    presence.presence_beat(agent=queue_setup[2][0])  # an agent takes the chat: no bot in it
    customer = make_customer()
    conversation = services.conversation_open(
        customer=customer, unit=make_unit(customer.organisation)
    )
    client = sign_in(Client(), customer)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    token, _unit = partner
    reads = ReadLoad(base_url=base, cookie=cookie, token=token)
    chat = ChatCustomer(
        f"ws://127.0.0.1:{port}/ws/chat/{conversation.pk}/", origin=base, cookie=cookie
    )

    with running_nginx(binary, config, port):
        # The chat first, alone: the one established connection to a Daphne is its socket.
        chat.start()
        assert _wait(lambda: chat.acked, 20), f"the chat never got an ack: {chat.problems}"
        held = established_on(set(webs.values()))
        assert len(held) == 1, f"connections to the Daphnes: {held}"
        victim = next(name for name, p in webs.items() if p == held[0])
        survivor = next(name for name in webs if name != victim)

        reads.start()
        creates.start()
        started = time.monotonic()
        time.sleep(5)
        # Kill while the process has a request in flight beside the socket (within 3 s).
        _wait(lambda: len(established_on({webs[victim]})) >= 2, 3)
        killed_at = time.monotonic()
        desk.kill(victim)
        time.sleep(6)
        offset = len(desk.log(victim))
        desk.start_web(victim, port=webs[victim])
        restarted_at = time.monotonic()
        rejoined = _wait(lambda: '"GET ' in desk.log(victim)[offset:], 25)
        rejoined_at = time.monotonic()
        time.sleep(2)
        reads.stop()
        chat.finish()
        creates.stop()
        stopped = time.monotonic()
        errors = (tmp_path / "nginx" / "error.log").read_text()

    # Every GET was answered, by nginx's retry on the other process where needed.
    failed = [o for o in reads.outcomes if o.status != 200]
    assert not failed, failed[:5]
    during = [o for o in reads.outcomes if killed_at <= o.started <= restarted_at]
    assert len(during) >= 10, f"only {len(during)} reads while a process was down"
    # nginx met the dead process (requests in flight dropped, or connections refused) and
    # passed those requests on; after max_fails=2 it left the process out for fail_timeout.
    upstream_errors = [
        line for line in errors.splitlines() if "[error]" in line and f":{webs[victim]}/" in line
    ]
    assert upstream_errors, errors

    # Every create ended with one ticket per key; the desk caught up (outbox, audit).
    report = assert_caught_up(desk, creates, running=(survivor, victim, "worker", "beat"))
    # A create the killed process was running got nginx's 502 (never passed on: not
    # idempotent); its retry took the dead claim over within seconds (409 at most while the
    # server noticed the session had ended), then the 201.
    for key, answers in creates.answers.items():
        statuses = [status for status, _reference in answers]
        if len(statuses) > 1:
            assert statuses[0] == 502 and set(statuses[1:-1]) <= {409}, (key, statuses)
            assert creates.retried[key] < 5, (key, creates.retried[key])
    failed_posts = sum(1 for a in creates.answers.values() for s, _r in a if s != 201)

    # The chat: every message once, in order, in the transcript and on the client.
    assert not chat.problems, chat.problems
    assert not chat.pending
    assert len(chat.opened) >= 2 and chat.dropped, "the chat socket never dropped"
    stored = list(
        ChatMessage.objects.filter(conversation=conversation)
        .order_by("seq")
        .values_list("seq", "client_id", "from_customer")
    )
    assert [c for _s, c, mine in stored if mine] == chat.sent
    assert [s for s, _c, _m in stored] == list(range(1, len(stored) + 1))
    assert sorted(chat.shown) == [s for s, _c, _m in stored]
    assert {s: f["client_id"] for s, f in chat.shown.items()} == {s: c for s, c, _m in stored}
    assert chat.acked == {c: s for s, c, mine in stored if mine}
    assert chat.repeats == [], "the client got a message twice"

    # The restarted process serves again once nginx's fail_timeout (10 s) has passed.
    assert rejoined, f"{victim} served nothing within 25 s of its restart"

    after = [o for o in reads.outcomes if o.started >= killed_at]
    first_read = min(o.started + o.seconds for o in after) - killed_at
    first_201 = min(at + s for at, s in creates.created_at if at >= killed_at) - killed_at
    spanning = [
        o.seconds for o in reads.outcomes if o.started <= killed_at <= o.started + o.seconds
    ]
    figures = {
        "load_seconds": round(stopped - started, 1),
        "reads": len(reads.outcomes),
        "reads_during_outage": len(during),
        "slowest_read_seconds": round(max(o.seconds for o in reads.outcomes), 2),
        "slowest_read_across_the_kill": round(max(spanning, default=0.0), 2),
        "upstream_errors_passed_on_by_nginx": len(upstream_errors),
        "victim_disabled_by_nginx": errors.count("upstream server temporarily disabled"),
        "failed_post_attempts_retried_with_their_key": failed_posts,
        "keys_retried": len(creates.retried),
        "slowest_key_to_its_201": round(max(creates.retried.values(), default=0.0), 1),
        "kill_to_first_read_served": round(first_read, 3),
        "kill_to_first_201": round(first_201, 3),
        "kill_to_chat_socket_dropped": round(
            min(t for t in chat.dropped if t >= killed_at) - killed_at, 3
        ),
        "kill_to_chat_resumed": round(
            min(t for t in chat.resumed if t >= killed_at) - killed_at, 3
        ),
        "restart_to_serving_again": round(rejoined_at - restarted_at, 1),
        "kill_to_serving_again": round(rejoined_at - killed_at, 1),
        "chat_messages": len(chat.sent),
        **report,
    }
    log.warning("failover drill (%s killed): %s", victim, figures)
    print(f"failover drill ({victim} killed): {json.dumps(figures)}")  # noqa: T201
