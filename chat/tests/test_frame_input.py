"""Bad JSON frames on the sockets: an error frame, never a crashed socket (issue 17, point 7).

JSON nested 100,000 deep used to raise RecursionError in the consumer (the socket died), and
a NUL in a message body would reach PostgreSQL, which refuses it.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat.models import ChatMessage
from chat.tests import test_consumer as chat_sockets
from testsupport import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

world = chat_sockets.world
_close_worker_connections = chat_sockets._close_worker_connections
application, frames_until, joined = (
    chat_sockets.application,
    chat_sockets.frames_until,
    chat_sockets.joined,
)

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "frame",
    [DEEP, '{"type": "message", "client_id": "c-1", "body": "seam \\u0000 pores"}'],
    ids=["deep", "nul"],
)
async def test_a_deep_or_nul_frame_on_the_chat_is_a_bad_frame_and_the_socket_lives(world, frame):
    customer = await joined(world["customer"], world["conversation"].pk)
    before = await sync_to_async(ChatMessage.objects.count)()
    await customer.send_to(text_data=frame)
    error = (await frames_until(customer, "error"))[-1]
    assert error["code"] == "bad_frame"
    await customer.send_json_to({"type": "ping"})
    assert (await frames_until(customer, "pong"))[-1]["type"] == "pong"
    assert await sync_to_async(ChatMessage.objects.count)() == before
    await customer.disconnect()


async def test_a_deep_frame_on_the_user_events_socket_is_a_bad_frame(make_customer):
    user = await sync_to_async(make_customer)()
    client = Client()
    await sync_to_async(sign_in)(client, user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    ws = WebsocketCommunicator(
        application(),
        "/ws/events/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)],
    )
    connected, _ = await ws.connect()
    assert connected
    await ws.send_to(text_data=DEEP)
    assert (await ws.receive_json_from())["code"] == "bad_frame"
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()
