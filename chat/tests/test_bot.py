"""The bot when nobody can take the chat; closing with a transcript; rating; callback."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat import bot, services
from chat.models import ChatMessage, Conversation, ConversationStatus
from testsupport import sign_in
from tickets.models import Kind, Priority, Ticket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture
def lonely(make_customer, queue_setup, make_unit, machine):
    """A waiting chat with nobody online, and a help article about its topic."""
    from knowledge.services import article_create

    article_create(
        actor=None,
        title="Chiller alarm: check the water level",
        body="Top up the chiller with distilled water and clean the filter.",
        language="en",
        machine_models=[machine],
        is_published=True,
    )
    customer = make_customer(language="en")
    conversation = services.conversation_open(
        customer=customer, unit=make_unit(customer.organisation)
    )
    assert conversation.status == ConversationStatus.WAITING
    return conversation


async def join(user, conversation_id: int) -> WebsocketCommunicator:
    from servicedesk.asgi import application

    client = Client()
    await sync_to_async(sign_in)(client, user)
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    ws = WebsocketCommunicator(application, f"/ws/chat/{conversation_id}/", headers=headers)
    connected, code = await ws.connect()
    assert connected, code
    return ws


async def until(ws, predicate, limit: int = 20) -> dict:
    for _ in range(limit):
        frame = await ws.receive_json_from(timeout=3)
        if predicate(frame):
            return frame
    raise AssertionError("frame not seen")


def is_bot(frame: dict) -> bool:
    return frame["type"] == "message" and frame.get("bot")


async def test_the_bot_answers_with_articles_and_the_queue_position(lonely):
    ws = await join(lonely.customer, lonely.pk)
    await ws.send_json_to({"type": "message", "client_id": "c-1", "body": "Chiller alarm again"})
    answer = await until(ws, is_bot)
    data = answer["bot_data"]
    # The text introduces the articles; the page lists their titles once, as links.
    assert answer["body"].endswith("These help articles may solve it right away:")
    assert data["articles"][0]["title"] == "Chiller alarm: check the water level"
    assert "Chiller alarm: check" not in answer["body"]
    assert data["position"] == 1
    assert data["articles"][0]["url"].startswith("/portal/help/en/")
    assert data["actions"] == ["person", "callback", "ticket", "wait"]
    # It does not answer every message.
    await ws.send_json_to({"type": "message", "client_id": "c-2", "body": "Hello?"})
    await until(ws, lambda f: f["type"] == "ack")
    assert await sync_to_async(ChatMessage.objects.filter(is_bot=True).count)() == 1
    # "Talk to a person" keeps the chat in the queue and says the place in it.
    await ws.send_json_to({"type": "person"})
    said = await until(ws, is_bot)
    assert "number 1 in the queue" in said["body"]
    await ws.disconnect()


async def test_the_bot_stays_quiet_when_an_agent_can_take_the_chat(lonely, queue_setup):
    from chat import presence

    customer = lonely.customer
    await sync_to_async(presence.presence_beat)(agent=queue_setup[2][0])
    status = await sync_to_async(lambda: Conversation.objects.get(pk=lonely.pk).status)()
    assert status == ConversationStatus.ACTIVE
    ws = await join(customer, lonely.pk)
    await ws.send_json_to({"type": "message", "client_id": "c-1", "body": "Chiller alarm"})
    await until(ws, lambda f: f["type"] == "ack")
    own = await until(ws, lambda f: f["type"] == "message")
    assert own["seq"] == 1 and not own["bot"]
    assert await ws.receive_nothing(timeout=0.5)  # and nothing from the bot
    assert await sync_to_async(ChatMessage.objects.filter(is_bot=True).count)() == 0
    await ws.disconnect()


async def test_the_bot_keeps_quiet_once_an_agent_took_the_chat_after_the_socket_opened(
    lonely, queue_setup
):
    """The socket opened while the chat waited; an agent accepts it from the console (no agent
    is online to take the next one): the bot must not answer in a chat an agent has."""
    from chat import presence

    ws = await join(lonely.customer, lonely.pk)
    await sync_to_async(presence.conversation_accept)(conversation=lonely, agent=queue_setup[2][0])
    await ws.send_json_to({"type": "message", "client_id": "c-1", "body": "Chiller alarm"})
    await until(ws, lambda f: f["type"] == "ack")
    await until(ws, lambda f: f["type"] == "message")
    assert await ws.receive_nothing(timeout=0.5)
    assert await sync_to_async(ChatMessage.objects.filter(is_bot=True).count)() == 0
    await ws.disconnect()


async def test_a_callback_request_opens_a_callback_ticket(lonely):
    ws = await join(lonely.customer, lonely.pk)
    await ws.send_json_to({"type": "callback", "phone": "not a number"})
    assert (await until(ws, lambda f: f["type"] == "error"))["code"] == "bad_phone"
    await ws.send_json_to({"type": "callback", "phone": "+86 138 0013 8000"})
    confirmation = await until(ws, is_bot)
    ticket = await sync_to_async(Ticket.objects.get)(kind=Kind.CALLBACK)
    assert ticket.reference in confirmation["body"]
    assert ticket.priority == Priority.P2 and ticket.requester_id == lonely.customer_id
    body = await sync_to_async(lambda: ticket.messages.first().body)()
    assert "+86 138 0013 8000" in body
    await ws.disconnect()


async def test_turning_the_chat_into_a_ticket_closes_it_with_the_transcript(lonely):
    ws = await join(lonely.customer, lonely.pk)
    await ws.send_json_to({"type": "message", "client_id": "c-1", "body": "Pores in the seam"})
    await until(ws, lambda f: f["type"] == "ack")
    await ws.send_json_to({"type": "to_ticket"})
    closed = await until(ws, lambda f: f["type"] == "closed")
    ticket = await sync_to_async(Ticket.objects.get)(reference=closed["ticket"])
    body = await sync_to_async(lambda: ticket.messages.first().body)()
    assert "Chat transcript" in body and "Pores in the seam" in body
    assert ticket.subject.startswith("Chat: Pores in the seam")
    # Then the customer rates it, once.
    await ws.send_json_to({"type": "rate", "rating": 9})
    assert (await until(ws, lambda f: f["type"] == "error"))["code"] == "bad_rating"
    await ws.send_json_to({"type": "rate", "rating": 4, "comment": "quick"})
    assert (await until(ws, lambda f: f["type"] == "rated"))["rating"] == 4
    await ws.send_json_to({"type": "rate", "rating": 5})
    assert (await until(ws, lambda f: f["type"] == "error"))["code"] == "already_rated"
    conversation = await sync_to_async(Conversation.objects.get)(pk=lonely.pk)
    assert (conversation.status, conversation.rating) == (ConversationStatus.CLOSED, 4)
    await ws.send_json_to({"type": "message", "client_id": "c-9", "body": "still there?"})
    assert (await until(ws, lambda f: f["type"] == "error"))["code"] == "closed"
    await ws.disconnect()


async def test_an_agent_closing_adds_the_transcript_to_the_linked_ticket(lonely, queue_setup):
    agent = queue_setup[2][0]
    ticket = await sync_to_async(bot.callback_request)(
        conversation=lonely, user=lonely.customer, phone="+86 21 5555 0101"
    )
    await sync_to_async(services.conversation_close)(conversation=lonely, actor=agent)
    notes = await sync_to_async(lambda: [m.body for m in ticket.messages.filter(internal=True)])()
    assert any("Chat transcript" in n for n in notes)


def test_out_of_hours_the_bot_says_when_the_desk_opens(sla_setup):
    from tickets.tests.conftest import at

    saturday_night = at(2026, 3, 7, 23, 0)
    opening = bot.opens_at(saturday_night)
    assert opening is not None and opening > saturday_night
    assert opening.weekday() == 0  # Monday morning
    assert bot.opens_at(at(2026, 3, 2, 10, 0)) is None  # Monday 10:00: open
    assert isinstance(opening, dt.datetime)
