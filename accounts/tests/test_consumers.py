"""The per-user WebSocket: authentication, second factor, origin check and revocation."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts import services
from testsupport import PASSWORD, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def application():
    from servicedesk.asgi import application as app

    return app


def cookie_header(client: Client) -> bytes:
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(
    client: Client | None, origin: bytes = b"http://localhost"
) -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if client is not None:
        headers.append((b"cookie", cookie_header(client)))
    return WebsocketCommunicator(application(), "/ws/events/", headers=headers)


async def test_anonymous_sockets_are_closed():
    ws = communicator(None)
    connected, code = await ws.connect()
    assert not connected and code == 4401


async def test_staff_without_second_factor_are_closed(make_staff):
    staff = await sync_to_async(make_staff)()
    client = Client()
    await sync_to_async(client.post)(
        "/accounts/login/", {"email": staff.email, "password": PASSWORD}
    )
    connected, code = await communicator(client).connect()
    assert not connected and code == 4403


async def test_foreign_origin_is_rejected(make_customer):
    user = await sync_to_async(make_customer)()
    client = Client()
    await sync_to_async(sign_in)(client, user)
    connected, _ = await communicator(client, origin=b"https://evil.example").connect()
    assert not connected


async def test_verified_staff_connect_and_get_pong(make_staff):
    staff = await sync_to_async(make_staff)()
    client = Client()
    await sync_to_async(sign_in)(client, staff)
    ws = communicator(client)
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.send_to(text_data="not json")
    assert (await ws.receive_json_from())["code"] == "bad_frame"
    await ws.disconnect()


async def test_the_events_socket_answers_bad_and_unknown_frames_like_the_chat(make_customer):
    """The same base answers frames on every socket: an object without a type is a bad
    frame, an unknown type is `unknown_type` (docs/chat-protocol.md), and the socket lives."""
    user = await sync_to_async(make_customer)()
    client = Client()
    await sync_to_async(sign_in)(client, user)
    ws = communicator(client)
    assert (await ws.connect())[0]
    for frame, code in (('{"no": "type"}', "bad_frame"), ('{"type": "shout"}', "unknown_type")):
        await ws.send_to(text_data=frame)
        assert (await ws.receive_json_from())["code"] == code, frame
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


async def test_password_change_closes_the_other_sessions_sockets(make_customer):
    user = await sync_to_async(make_customer)()
    client = Client()
    await sync_to_async(client.post)(
        "/accounts/login/", {"email": user.email, "password": PASSWORD}
    )
    ws = communicator(client)
    connected, _ = await ws.connect()
    assert connected

    await sync_to_async(services.user_change_password)(
        user=user, new_password="another long passphrase 77", actor=user
    )
    assert await ws.receive_json_from(timeout=3) == {"type": "session.revoked"}
    assert (await ws.receive_output(timeout=3))["type"] == "websocket.close"
