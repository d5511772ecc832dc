"""Chat files: uploaded over HTTP with the ticket checks, sent in a message, served safely."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat.models import ChatAttachment
from chat.tests.conftest import PNG, upload
from testsupport import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


def test_upload_checks_type_and_scope(world, make_customer):
    conversation, customer, _agent = world
    client = sign_in(Client(), customer)
    ok = upload(client, conversation.pk, "seam.png", PNG)
    assert ok.status_code == 201
    assert ok.json()["image"] is True and ok.json()["name"] == "seam.png"
    refused = upload(client, conversation.pk, "photo.jpg", b"MZ\x90\x00 a windows program")
    assert refused.status_code == 415
    assert refused.json()["error"]["code"] == "file_type"
    assert upload(client, conversation.pk, "empty.txt", b"").status_code == 400
    stranger = sign_in(Client(), make_customer())
    assert upload(stranger, conversation.pk, "seam.png", PNG).status_code == 404
    assert ChatAttachment.objects.count() == 1


def test_images_are_shown_inline_other_files_downloaded_and_strangers_get_404(world, make_customer):
    conversation, customer, agent = world
    client = sign_in(Client(), customer)
    image = upload(client, conversation.pk, "seam.png", PNG).json()
    log = upload(client, conversation.pk, "alarm.txt", b"E30 at 10:02\nE30 at 10:05\n").json()
    shown = client.get(image["url"])
    assert shown.status_code == 200
    assert shown["Content-Disposition"].startswith("inline")
    assert shown["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert shown["X-Content-Type-Options"] == "nosniff"
    downloaded = sign_in(Client(), agent).get(log["url"])
    assert downloaded["Content-Disposition"].startswith("attachment")
    assert sign_in(Client(), make_customer()).get(image["url"]).status_code == 404


async def test_a_message_carries_its_files_and_nobody_else_can_send_them(world):
    from servicedesk.asgi import application

    conversation, customer, _agent = world
    client = await sync_to_async(sign_in)(Client(), customer)
    image = (await sync_to_async(upload)(client, conversation.pk, "seam.png", PNG)).json()
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    ws = WebsocketCommunicator(application, f"/ws/chat/{conversation.pk}/", headers=headers)
    assert (await ws.connect())[0]
    await ws.send_json_to(
        {"type": "message", "client_id": "c-1", "body": "", "attachments": [image["id"]]}
    )
    while True:
        frame = await ws.receive_json_from(timeout=3)
        if frame["type"] == "message":
            break
    assert frame["attachments"][0]["id"] == image["id"]
    assert frame["attachments"][0]["image"] is True
    # The same file again, in another message: refused, and nothing is stored.
    await ws.send_json_to(
        {"type": "message", "client_id": "c-2", "body": "again", "attachments": [image["id"]]}
    )
    while True:
        frame = await ws.receive_json_from(timeout=3)
        if frame["type"] == "error":
            break
    assert frame["code"] == "bad_attachment"
    count = await sync_to_async(conversation.messages.count)()
    assert count == 1
    await ws.disconnect()
