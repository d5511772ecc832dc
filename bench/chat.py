"""Chat benchmark: WebSocket round trips through one server and through two over Redis.

Pairs of clients (a customer and an agent in one active conversation) exchange messages: the
customer sends, the agent's client answers as soon as the message reaches it, and the
customer times the round trip until the answer arrives (two messages stored, numbered,
acknowledged and delivered through the channel layer). With two servers the customer is on
one and the agent on the other, so every message crosses Redis. The floor is a bare Channels
consumer that echoes each frame, served by the same Daphne process(es), driven by the same
number of clients sending and waiting for their echo.
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


async def _chat_run(
    ports: list[int], sessions: list[tuple[int, str, str]], *, pace: float = 0.0
) -> dict[str, Any]:
    """Round trips of every pair; back to back, or with `pace` seconds from one send to the
    next (a customer typing at that rate; the pairs start spread over one pace)."""
    from websockets.asyncio.client import connect

    samples: list[float] = []
    done = 0
    window = _Window(len(sessions))
    connected = 0
    run = f"{time.monotonic_ns():x}"  # client ids are unique per conversation: new each run

    async def pair(index: int, conv: int, customer_key: str, agent_key: str) -> None:
        nonlocal done, connected
        port_c = ports[index % len(ports)]
        port_a = ports[(index + 1) % len(ports)]  # with two servers: the other one

        def open_(port: int, key: str):
            return connect(
                f"ws://127.0.0.1:{port}/ws/chat/{conv}/",
                origin=f"http://127.0.0.1:{port}",
                additional_headers={"Cookie": _cookie(key)},
                open_timeout=120,
                max_queue=None,
            )

        async with window.handshake:
            customer = await open_(port_c, customer_key)
            agent = await open_(port_a, agent_key)
        async with customer, agent:
            connected += 1
            start, stop = await window.joined()

            async def answer() -> None:
                async for raw in agent:
                    frame = json.loads(raw)
                    if frame.get("type") == "message" and frame.get("from_customer"):
                        await agent.send(
                            json.dumps(
                                {
                                    "type": "message",
                                    "client_id": f"a-{run}-{frame['seq']}",
                                    "body": f"re {frame['body']}",
                                }
                            )
                        )

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
                    await customer.send(
                        json.dumps(
                            {"type": "message", "client_id": f"c-{run}-{n}", "body": f"m{n}"}
                        )
                    )
                    while True:
                        frame = json.loads(await asyncio.wait_for(customer.recv(), timeout=30))
                        if frame.get("type") == "message" and frame.get("body") == f"re m{n}":
                            break
                    now = time.monotonic()
                    if start <= sent and now <= stop:
                        samples.append(now - sent)
                        done += 1
            finally:
                answering.cancel()

    await asyncio.gather(*(pair(i, *s) for i, s in enumerate(sessions)))
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


def run(*, scale: float = 1.0) -> dict[str, Any]:
    results: dict[str, Any] = {"file_limit": _raise_file_limit(), "seconds": SECONDS}
    counts = [max(2, int(n * scale) // 2 * 2) for n in CLIENT_COUNTS]
    redis = bool(settings.REDIS_URL)
    layouts = [("one server", 1)] + ([("two servers over Redis", 2)] if redis else [])
    log_dir = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    print(
        f"  chat: {counts} clients, {SECONDS:.0f} s measured after {WARMUP:.0f} s, logs {log_dir}"
    )
    sessions = seed(max(counts) // 2)
    connections.close_all()
    for label, servers in layouts:
        with daphne_servers(
            servers,
            log_dir,
            redis=redis,
            app="bench.asgi:application",
            settings_module="bench.settings",
            debug=False,
        ) as ports:
            for clients in counts:
                key = f"{label}, {clients} clients"
                echo = asyncio.run(_echo_run(ports, clients))
                chat = asyncio.run(_chat_run(ports, sessions[: clients // 2]))
                paced = asyncio.run(_chat_run(ports, sessions[: clients // 2], pace=PACE))
                ratio = (
                    chat["messages_per_s"] / echo["messages_per_s"]
                    if echo["messages_per_s"]
                    else None
                )
                results[key] = {
                    "chat": chat,
                    "chat_paced": paced,
                    "echo_floor": echo,
                    "ratio": ratio and round(ratio, 3),
                }
                print(
                    f"    {key}: chat {chat['messages_per_s']:,.0f} msg/s "
                    f"(round trip p50 {chat['p50_ms']} ms, p99 {chat['p99_ms']} ms); "
                    f"echo floor {echo['messages_per_s']:,.0f} msg/s (p50 {echo['p50_ms']} ms, "
                    f"p99 {echo['p99_ms']} ms); ratio {ratio:.0%}; paced (a message every "
                    f"{PACE:g} s per customer): {paced['messages_per_s']:,.0f} msg/s, round trip "
                    f"p50 {paced['p50_ms']} ms, p99 {paced['p99_ms']} ms"
                    if ratio
                    else f"    {key}: {chat} / {echo}"
                )
    return results
