"""Chat benchmark: WebSocket round trips through one, two or four servers over Redis.

Pairs of clients (a customer and an agent in one active conversation) exchange messages: the
customer sends, the agent's client answers as soon as the message reaches it, and the
customer times the round trip until the answer arrives (two messages stored, numbered,
acknowledged and delivered through the channel layer). With several servers the customer is
on one and the agent on the next, so every message crosses Redis. The floor is a bare
Channels consumer doing the same frame work without storage (bench/asgi.py), served by the
same Daphne process(es) and driven the same way by the same number of pairs.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Region, User
from accounts.services import organisation_create
from chat.models import Conversation, ConversationStatus
from chat.tests.servers import daphne_servers

SECONDS = float(os.environ.get("BENCH_CHAT_SECONDS", "10"))
WARMUP = float(os.environ.get("BENCH_CHAT_WARMUP", "2"))
# The paced run: each customer sends a message this often (a fast typist: one a second).
PACE = float(os.environ.get("BENCH_CHAT_PACE", "1"))
CLIENT_COUNTS = [
    int(n) for n in os.environ.get("BENCH_CHAT_CLIENTS", "200,1000").split(",") if n.strip()
]
# A socket may send 10 frames a second (chat.consumers.RATE_PER_SECOND): a few saturated
# pairs go faster, are refused, and send the frame again after this pause.
RETRY = 0.1
# Daphne processes to run, one row each (BENCH_CHAT_SERVERS or `--servers`; 2 and more need
# Redis between them): with two, the customer of a pair is on one and its agent on the other.
SERVERS = [int(n) for n in os.environ.get("BENCH_CHAT_SERVERS", "1,2,4").split(",") if n.strip()]
# The rows of each layout: saturated and paced, floor and chat (BENCH_CHAT_RUNS to pick some;
# a profile of one of them wants it alone and long).
RUNS = [
    r.strip()
    for r in os.environ.get("BENCH_CHAT_RUNS", "floor,chat,floor_paced,chat_paced").split(",")
    if r.strip()
]
# The echo floor (one frame in, the same frame out) as well: BENCH_CHAT_ECHO=1.
ECHO = os.environ.get("BENCH_CHAT_ECHO", "") == "1"
# What the servers get besides the harness's environment (a knob to compare, e.g. an event
# loop): BENCH_CHAT_SERVER_ENV="NAME=value,NAME=value".
SERVER_ENV = dict(
    item.split("=", 1) for item in os.environ.get("BENCH_CHAT_SERVER_ENV", "").split(",") if item
)
# The module that starts a server with Daphne's arguments: bench.daphne_uvloop for uvloop.
LAUNCHER = os.environ.get("BENCH_CHAT_LAUNCHER", "daphne")
# Bench people never sign in with a password: an unusable one, as set_unusable_password sets.
UNUSABLE = "!"


def _raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(target, 65536)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _session(user: User, *, device: TOTPDevice | None = None) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if device is not None:
        store[DEVICE_ID_SESSION_KEY] = device.persistent_id
    store.create()
    return store.session_key


def seed(pairs: int) -> list[tuple[int, str, str]]:
    """Create `pairs` customers and agents, an active conversation each, and their sessions."""
    region = Region.objects.order_by("pk").first()
    org = organisation_create(
        actor="system:bench",
        name="Bench Welding Works",
        name_en="Bench Welding Works",
        tier="standard",
        region=region,
        contact_name="Bench",
        contact_email="bench@bench.example",
        contact_phone="",
        address="",
    )
    stamp = int(time.time())
    people = []
    for i in range(pairs):
        people.append(
            User(
                email=f"c{i}.{stamp}@bench.example",
                full_name=f"Customer {i}",
                organisation=org,
                language="en",
                password=UNUSABLE,
            )
        )
        people.append(
            User(
                email=f"a{i}.{stamp}@welddesk.example",
                full_name=f"Agent {i}",
                is_staff=True,
                language="en",
                password=UNUSABLE,
            )
        )
    User.objects.bulk_create(people, batch_size=500)
    people = list(User.objects.filter(email_bidx__in=[u.email_bidx for u in people]))
    customers = sorted((u for u in people if not u.is_staff), key=lambda u: u.full_name)
    agents = sorted((u for u in people if u.is_staff), key=lambda u: u.full_name)
    # Agents see the conversations of their regions only (accounts.permissions).
    Through = User.regions.through
    Through.objects.bulk_create([Through(user_id=a.pk, region_id=region.pk) for a in agents])
    devices = TOTPDevice.objects.bulk_create(
        [TOTPDevice(user=a, name="bench", confirmed=True) for a in agents]
    )
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(organisation=org, customer=c, agent=a, status=ConversationStatus.ACTIVE)
            for c, a in zip(customers, agents, strict=True)
        ]
    )
    return [
        (conv.pk, _session(c), _session(a, device=d))
        for conv, c, a, d in zip(conversations, customers, agents, devices, strict=True)
    ]


class _Window:
    """Connect at most 50 sockets at a time (a listen backlog overflows otherwise), then
    measure the same window for everyone: from 1 s after the last one joined, SECONDS long."""

    def __init__(self, clients: int):
        self.handshake = asyncio.Semaphore(50)
        self.clients, self.arrived = clients, 0
        self.ready = asyncio.Event()
        self.start = self.stop = 0.0

    async def joined(self) -> tuple[float, float]:
        self.arrived += 1
        if self.arrived == self.clients:
            self.start = time.monotonic() + WARMUP
            self.stop = self.start + SECONDS
            self.ready.set()
        await self.ready.wait()
        return self.start, self.stop


def _cookie(key: str) -> str:
    # Both names: the server's cookie name depends on its DEBUG setting.
    return f"sessionid={key}; __Host-sessionid={key}"


def _limited(frame: dict) -> bool:
    return frame.get("type") == "error" and frame.get("code") == "rate_limited"


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _report(samples: list[float], count: int, seconds: float, per_trip: int) -> dict[str, Any]:
    return {
        "round_trips": count,
        "messages_per_s": round(count * per_trip / seconds, 1),
        "p50_ms": round(statistics.median(samples) * 1000, 1) if samples else None,
        "p99_ms": round(_percentile(samples, 0.99) * 1000, 1) if samples else None,
    }


# One pair's sockets: (customer URL path, customer's session key, agent URL path, agent's key).
Pair = tuple[str, str, str, str]


def chat_pairs(sessions: list[tuple[int, str, str]]) -> list[Pair]:
    return [(f"/ws/chat/{conv}/", c, f"/ws/chat/{conv}/", a) for conv, c, a in sessions]


def floor_pairs(count: int) -> list[Pair]:
    return [(f"/bench/ws/floor/{i}/c/", "", f"/bench/ws/floor/{i}/a/", "") for i in range(count)]


async def _chat_run(ports: list[int], pairs: list[Pair], *, pace: float = 0.0) -> dict[str, Any]:
    """Round trips of every pair; back to back, or with `pace` seconds from one send to the
    next (a customer typing at that rate; the pairs start spread over one pace). The same
    frames for the chat and its floor: a message in, its ack and the two copies out."""
    from websockets.asyncio.client import connect

    samples: list[float] = []
    done = 0
    window = _Window(len(pairs))
    connected = 0
    run = f"{time.monotonic_ns():x}"  # client ids are unique per conversation: new each run

    async def pair(index: int, path_c: str, customer_key: str, path_a: str, agent_key: str):
        nonlocal done, connected
        # With several servers the agent is on the next one, so every message crosses Redis.
        port_c = ports[index % len(ports)]
        port_a = ports[(index + 1) % len(ports)]

        def open_(port: int, path: str, key: str):
            return connect(
                f"ws://127.0.0.1:{port}{path}",
                origin=f"http://127.0.0.1:{port}",
                additional_headers={"Cookie": _cookie(key)} if key else None,
                open_timeout=120,
                max_queue=None,
            )

        async with window.handshake:
            customer = await open_(port_c, path_c, customer_key)
            agent = await open_(port_a, path_a, agent_key)
        async with customer, agent:
            connected += 1
            start, stop = await window.joined()

            async def answer() -> None:
                last = ""
                async for raw in agent:
                    frame = json.loads(raw)
                    if frame.get("type") == "message" and frame.get("from_customer"):
                        last = json.dumps(
                            {
                                "type": "message",
                                "client_id": f"a-{run}-{frame['seq']}",
                                "body": f"re {frame['body']}",
                            }
                        )
                        await agent.send(last)
                    elif _limited(frame):  # over the socket's rate: as a client, again soon
                        await asyncio.sleep(RETRY)
                        await agent.send(last)

            answering = asyncio.create_task(answer())
            n = 0
            due = time.monotonic() + (index % 97) / 97 * pace
            try:
                while time.monotonic() < stop:
                    if pace:
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                        due += pace
                    n += 1
                    sent = time.monotonic()
                    message = json.dumps(
                        {"type": "message", "client_id": f"c-{run}-{n}", "body": f"m{n}"}
                    )
                    await customer.send(message)
                    while True:
                        frame = json.loads(await asyncio.wait_for(customer.recv(), timeout=30))
                        if frame.get("type") == "message" and frame.get("body") == f"re m{n}":
                            break
                        if _limited(frame):
                            await asyncio.sleep(RETRY)
                            await customer.send(message)
                    now = time.monotonic()
                    if start <= sent and now <= stop:
                        samples.append(now - sent)
                        done += 1
            finally:
                answering.cancel()

    await asyncio.gather(*(pair(i, *p) for i, p in enumerate(pairs)))
    return {**_report(samples, done, SECONDS, 2), "pairs_connected": connected, "pace_s": pace}


async def _echo_run(ports: list[int], clients: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    samples: list[float] = []
    done = 0
    window = _Window(clients)

    async def client(index: int) -> None:
        nonlocal done
        port = ports[index % len(ports)]
        async with window.handshake:
            ws = await connect(
                f"ws://127.0.0.1:{port}/bench/ws/echo/",
                origin=f"http://127.0.0.1:{port}",
                open_timeout=120,
            )
        async with ws:
            start, stop = await window.joined()
            n = 0
            while time.monotonic() < stop:
                n += 1
                sent = time.monotonic()
                await ws.send(f"m{n}")
                await asyncio.wait_for(ws.recv(), timeout=30)
                now = time.monotonic()
                if start <= sent and now <= stop:
                    samples.append(now - sent)
                    done += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return _report(samples, done, SECONDS, 1)


def _line(r: dict[str, Any]) -> str:
    rate, p50, p99 = r["messages_per_s"], r["p50_ms"], r["p99_ms"]
    return f"{rate:,.0f} msg/s, round trip p50 {p50} ms, p99 {p99} ms"


def run(*, scale: float = 1.0) -> dict[str, Any]:
    results: dict[str, Any] = {"file_limit": _raise_file_limit(), "seconds": SECONDS}
    counts = [max(2, int(n * scale) // 2 * 2) for n in CLIENT_COUNTS]
    redis = bool(settings.REDIS_URL)
    servers = SERVERS if redis else [1]  # several processes need Redis between them
    log_dir = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    print(
        f"  chat: {counts} clients on {servers} servers, {SECONDS:.0f} s measured after "
        f"{WARMUP:.0f} s, logs {log_dir}"
    )
    sessions = seed(max(counts) // 2)
    connections.close_all()
    for count in servers:
        label = "one server" if count == 1 else f"{count} servers over Redis"
        with daphne_servers(
            count,
            log_dir,
            redis=redis,
            app="bench.asgi:application",
            settings_module="bench.settings",
            debug=False,
            extra_env=SERVER_ENV,
            launcher=LAUNCHER,
        ) as ports:
            for clients in counts:
                key = f"{label}, {clients} clients"
                chat, floor = chat_pairs(sessions[: clients // 2]), floor_pairs(clients // 2)
                row: dict[str, Any] = {"servers": count, "clients": clients}
                if ECHO:
                    row["echo"] = asyncio.run(_echo_run(ports, clients))
                    print(f"    {key}, echo: {_line(row['echo'])}", flush=True)
                for name in RUNS:
                    pace = PACE if name.endswith("_paced") else 0.0
                    pairs = chat if name.startswith("chat") else floor
                    row[name] = asyncio.run(_chat_run(ports, pairs, pace=pace))
                    print(f"    {key}, {name.replace('_', ' ')}: {_line(row[name])}", flush=True)
                if "chat" in row and "floor" in row and row["floor"]["messages_per_s"]:
                    ratio = row["chat"]["messages_per_s"] / row["floor"]["messages_per_s"]
                    row["ratio"] = round(ratio, 3)
                    print(f"    {key}: saturated chat / floor {ratio:.0%}", flush=True)
                results[key] = row
    return results
