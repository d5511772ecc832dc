"""The chat bot answers "where is my shipment" / "我的快递到哪了" without an agent."""

from __future__ import annotations

import pytest

from chat import bot
from chat import services as chat_services
from chat.tests.test_bot import _close_worker_connections, is_bot, join, until  # noqa: F401
from logistics import services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def waiting(open_ticket, make_shipment, make_customer):
    customer = make_customer(language="zh-hans")
    ticket = open_ticket(customer)
    shipment = make_shipment(customer.organisation, tickets=[ticket], hours_ago=20)
    services.track_one(shipment=shipment)
    conversation = chat_services.conversation_open(customer=customer)
    return conversation, ticket, shipment


async def test_a_chinese_question_with_a_tracking_number_gets_the_status(waiting):
    conversation, _ticket, shipment = waiting
    ws = await join(conversation.customer, conversation.pk)
    await ws.send_json_to(
        {"type": "message", "client_id": "c-1", "body": f"我的快递{shipment.tracking_number}到哪了"}
    )
    answer = await until(ws, is_bot)
    assert shipment.tracking_number in answer["body"]
    assert "运输中" in answer["body"] and "Suzhou hub" in answer["body"]
    assert answer["bot_data"]["shipments"][0]["url"] == f"/portal/shipments/{shipment.pk}/"
    await ws.disconnect()


def test_a_ticket_number_finds_its_shipment_in_english(waiting, settings):
    conversation, ticket, shipment = waiting
    conversation.customer.language = "en"
    reply = bot.shipment_answer(
        conversation=conversation, text=f"Where is my spare part for {ticket.reference}?"
    )
    assert f"Spare part {shipment.tracking_number}: In transit · Suzhou hub" in reply.body


def test_another_customers_number_is_never_revealed(waiting, make_customer, make_shipment):
    conversation, _ticket, _mine = waiting
    other = make_shipment(make_customer().organisation, hours_ago=20)
    services.track_one(shipment=other)
    conversation.customer.language = "en"
    reply = bot.shipment_answer(
        conversation=conversation, text=f"where is my parcel {other.tracking_number}"
    )
    assert other.tracking_number not in reply.body
    assert "I found no shipment" in reply.body


def test_without_a_number_the_bot_lists_what_is_under_way(waiting):
    conversation, _ticket, shipment = waiting
    reply = bot.shipment_answer(conversation=conversation, text="快递到哪了？")
    assert shipment.tracking_number in reply.body


def test_other_questions_and_chats_with_an_agent_are_left_alone(waiting):
    from chat.models import Conversation, ConversationStatus

    conversation, _ticket, shipment = waiting
    assert bot.shipment_answer(conversation=conversation, text="The chiller beeps") is None
    Conversation.objects.filter(pk=conversation.pk).update(status=ConversationStatus.ACTIVE)
    conversation.refresh_from_db()
    text = f"where is {shipment.tracking_number}"
    assert bot.shipment_answer(conversation=conversation, text=text) is None
