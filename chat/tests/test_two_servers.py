"""Two server processes share the Redis channel layer: a customer on one, an agent on the other.

Starts two Daphne processes on loopback ports against the test database and Redis, signs both
people in, and exchanges messages across the servers with a real WebSocket client.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from django.conf import settings
from django.test import Client

from chat import presence, services
from chat.tests.servers import daphne_servers
from testsupport import sign_in

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_servers(tmp_path):
    with daphne_servers(2, tmp_path, redis=True) as ports:
        yield ports


def session_cookie(user) -> str:
    client = Client()
    sign_in(client, user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def test_a_customer_and_an_agent_on_different_servers_talk(
    two_servers, make_customer, queue_setup, make_unit
):
    websockets = pytest.importorskip("websockets.asyncio.client")
    presence.presence_beat(agent=queue_setup[2][0])  # online: the chat is theirs, no bot
    customer = make_customer()
    conversation = services.conversation_open(
        customer=customer, unit=make_unit(customer.organisation)
    )
    agent = queue_setup[2][0]
    customer_cookie, agent_cookie = session_cookie(customer), session_cookie(agent)
    port_a, port_b = two_servers

    async def talk() -> tuple[list[dict], list[dict]]:
        def connect(port: int, cookie: str):
            return websockets.connect(
                f"ws://127.0.0.1:{port}/ws/chat/{conversation.pk}/",
                origin=f"http://127.0.0.1:{port}",
                additional_headers={"Cookie": cookie},
                open_timeout=10,
            )

        async with connect(port_a, customer_cookie) as c, connect(port_b, agent_cookie) as a:

            async def until(ws, kind):
                frames = []
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                    frames.append(frame)
                    if frame["type"] == kind:
                        return frames

            await c.send(
                json.dumps({"type": "message", "client_id": "c-1", "body": "Chiller alarm E30"})
            )
            assert (await until(c, "ack"))[-1]["seq"] == 1
            seen_by_agent = await until(a, "message")
            await a.send(
                json.dumps({"type": "message", "client_id": "a-1", "body": "Check the water level"})
            )
            assert (await until(a, "ack"))[-1]["seq"] == 2
            seen_by_customer = [f for f in await until(c, "message") if f["type"] == "message"]
            if seen_by_customer[-1]["seq"] == 1:  # their own message, then the answer
                seen_by_customer += [f for f in await until(c, "message") if f["type"] == "message"]
            return seen_by_agent, seen_by_customer

    seen_by_agent, seen_by_customer = asyncio.run(talk())
    assert seen_by_agent[-1]["body"] == "Chiller alarm E30"
    assert seen_by_customer[-1]["body"] == "Check the water level"
    assert [m.seq for m in conversation.messages.order_by("seq")] == [1, 2]
