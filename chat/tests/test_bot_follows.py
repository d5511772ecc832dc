"""The bot follows a waiting chat over a real WebSocket, in English and in Chinese.

Every customer message is read for a question the bot can answer from the customer's own data
(shipments, tickets) or the desk's (opening hours, help articles); another organisation's
numbers get the same answer as numbers that do not exist; a message that asks nothing gets
nothing (the queue notice comes once); once an agent accepts, the bot is silent.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from django.utils.translation import gettext as _

from chat import answers, bot, presence
from chat import services as chat_services
from chat.models import ChatMessage, Conversation
from chat.tests.test_bot import _close_worker_connections, is_bot, join, until  # noqa: F401
from logistics import services as logistics_services
from tickets import selectors as ticket_selectors
from tickets.tests.conftest import at

pytestmark = pytest.mark.django_db(transaction=True)

LANGUAGES = ["en", "zh-hans"]
# What a customer types, in each language.
SAYS = {
    "en": {
        "tracking": "Where is my parcel {number}?",
        "parts": "Where are my parts?",
        "ticket": "What is the status of {reference}?",
        "hours": "When do you open?",
        "fault": "The laser shows E101 again",
        "nothing": "ok, thanks",
        "hello": "Hello",
    },
    "zh-hans": {
        "tracking": "我的快递{number}到哪了",
        "parts": "我的配件到哪了？",
        "ticket": "工单{reference}的进度怎么样？",
        "hours": "你们几点上班？",
        "fault": "激光器又报E101了",
        "nothing": "好的，谢谢",
        "hello": "你好",
    },
}


@pytest.fixture(params=LANGUAGES)
def language(request):
    return request.param


@pytest.fixture
def waiting(language, open_ticket, make_shipment, make_customer, make_unit):
    """A customer's chat waiting for an agent (nobody is online), with their ticket and a
    spare part under way for it."""
    customer = make_customer(language=language)
    unit = make_unit(customer.organisation)
    ticket = open_ticket(customer, unit=unit)
    shipment = make_shipment(customer.organisation, tickets=[ticket], hours_ago=20)
    logistics_services.track_one(shipment=shipment)
    conversation = chat_services.conversation_open(customer=customer, unit=unit)
    return conversation, ticket, shipment


@pytest.fixture
def stranger(open_ticket, make_shipment, make_customer):
    """Another organisation's ticket and shipment."""
    customer = make_customer()
    ticket = open_ticket(customer, subject="Secret project of another firm")
    shipment = make_shipment(customer.organisation, tickets=[ticket], hours_ago=20)
    logistics_services.track_one(shipment=shipment)
    return ticket, shipment


@pytest.fixture
def fault_e101(queue_setup, machine):
    """The fault code E101 in the catalogue, with a help article in each language."""
    from equipment.models import FaultCode
    from knowledge.services import article_create

    code = FaultCode.objects.create(
        code="E101",
        title_en="Laser over-temperature",
        title_zh="激光器过温",
        severity="critical",
        first_checks_en="Check the chiller's water level.",
        first_checks_zh="检查冷水机水位。",
    )
    titles = {"en": "E101: cool the laser source down", "zh-hans": "E101：激光器过温的处理"}
    for language, title in titles.items():
        article_create(
            actor=queue_setup[1],
            title=title,
            body="Stop welding, let the chiller run, clean its filter. 停机，清洗过滤网。",
            language=language,
            fault_codes=[code],
            is_published=True,
        )
    return code, titles


def said(language: str, text: str, **values) -> str:
    """The bot's sentence in the customer's language (as the catalogue translates it)."""
    with translation.override(language):
        return _(text) % values if values else _(text)


async def ask(ws, text: str, n: int = 1) -> dict:
    """Send a customer message; return the bot's first answer to it."""
    await ws.send_json_to({"type": "message", "client_id": f"c-{n}", "body": text})
    return await until(ws, is_bot)


async def nothing_more(ws, text: str, n: int) -> None:
    """Send a customer message and see it stored and shown, and nothing from the bot."""
    await ws.send_json_to({"type": "message", "client_id": f"c-{n}", "body": text})
    await until(ws, lambda f: f["type"] == "ack")
    own = await until(ws, lambda f: f["type"] == "message")
    assert own["from_customer"] and own["body"] == text
    assert await ws.receive_nothing(timeout=1)


def bot_count(conversation) -> int:
    return ChatMessage.objects.filter(conversation=conversation, is_bot=True).count()


async def test_a_tracking_number_gets_the_carriers_status(waiting, language):
    conversation, _ticket, shipment = waiting
    ws = await join(conversation.customer, conversation.pk)
    answer = await ask(ws, SAYS[language]["tracking"].format(number=shipment.tracking_number))
    assert shipment.tracking_number in answer["body"] and "Suzhou hub" in answer["body"]
    assert said(language, "In transit") in answer["body"]
    assert answer["bot_data"]["intent"] == "shipment"
    assert answer["bot_data"]["shipments"][0]["url"] == f"/portal/shipments/{shipment.pk}/"
    assert "/portal/" not in answer["body"]  # the page shows the link, not a path in the text
    # Nobody is online: the queue notice follows, once.
    notice = await until(ws, is_bot)
    assert notice["bot_data"]["position"] == 1 and "callback" in notice["bot_data"]["actions"]
    await ws.disconnect()


async def test_my_parts_lists_the_shipments_under_way(waiting, language):
    conversation, _ticket, shipment = waiting
    ws = await join(conversation.customer, conversation.pk)
    answer = await ask(ws, SAYS[language]["parts"])
    assert said(language, "Here is what the carrier reports:") in answer["body"]
    assert shipment.tracking_number in answer["body"]
    await ws.disconnect()


async def test_a_ticket_reference_gets_the_tickets_state(waiting, language):
    conversation, ticket, _shipment = waiting
    ws = await join(conversation.customer, conversation.pk)
    answer = await ask(ws, SAYS[language]["ticket"].format(reference=ticket.reference))
    status = await sync_to_async(lambda: type(ticket).objects.get(pk=ticket.pk))()
    with translation.override(language):
        label, means = status.get_status_display(), str(answers.STATUS_MEANS[status.status])
    assert ticket.reference in answer["body"] and ticket.subject in answer["body"]
    assert label in answer["body"] and means in answer["body"]
    assert answer["bot_data"]["tickets"] == [
        {
            "reference": ticket.reference,
            "status": status.status,
            "url": f"/portal/tickets/{ticket.reference}/",
        }
    ]
    assert "/portal/" not in answer["body"]  # the page shows the link, not a path in the text
    await ws.disconnect()


async def test_another_organisations_numbers_get_the_same_answer_as_missing_ones(
    waiting, stranger, language
):
    from audit.models import AuditEvent

    conversation, _ticket, _shipment = waiting
    foreign_ticket, foreign_shipment = stranger
    ws = await join(conversation.customer, conversation.pk)
    says = SAYS[language]
    foreign = await ask(ws, says["ticket"].format(reference=foreign_ticket.reference), 1)
    await until(ws, is_bot)  # the queue notice
    missing = await ask(ws, says["ticket"].format(reference="WD-2026-999999"), 2)
    assert foreign["body"] == missing["body"]
    assert foreign["bot_data"] == missing["bot_data"] == {"intent": "ticket", "tickets": []}
    assert "Secret project" not in foreign["body"]
    parcel = await ask(ws, says["tracking"].format(number=foreign_shipment.tracking_number), 3)
    nowhere = await ask(ws, says["tracking"].format(number="SBX-999999"), 4)
    assert parcel["body"] == nowhere["body"] and parcel["bot_data"] == nowhere["bot_data"]
    assert foreign_shipment.tracking_number not in parcel["body"]
    # The probes of existing foreign objects are audited like any refused object.
    denied = await sync_to_async(
        lambda: set(
            AuditEvent.objects.filter(action="access.denied").values_list(
                "target_type", "target_id"
            )
        )
    )()
    assert ("tickets.ticket", str(foreign_ticket.pk)) in denied
    assert ("logistics.shipment", str(foreign_shipment.pk)) in denied
    await ws.disconnect()


async def test_the_bot_says_when_the_desk_opens(waiting, language):
    conversation, _ticket, _shipment = waiting
    ws = await join(conversation.customer, conversation.pk)
    answer = await ask(ws, SAYS[language]["hours"])
    assert "08:30–12:00, 13:00–17:30" in answer["body"] and "Asia/Shanghai" in answer["body"]
    with translation.override(language):
        assert (
            said(language, "%(first)s–%(last)s", first=_("Monday"), last=_("Friday"))
            in (answer["body"])
        )
    hours = await sync_to_async(ticket_selectors.desk_hours)(tier="standard")
    assert answer["bot_data"]["intent"] == "hours"
    assert answer["bot_data"]["open_now"] == hours.open_now
    await ws.disconnect()


def test_out_of_hours_the_answer_says_when_the_desk_opens_and_in_hours_until_when(waiting):
    conversation, _ticket, _shipment = waiting
    saturday_night = answers.hours_reply(conversation=conversation, now=at(2026, 3, 7, 23, 0))
    assert "2026-03-09 08:30" in saturday_night.body  # Monday morning
    assert saturday_night.payload["open_now"] is False
    monday_morning = answers.hours_reply(conversation=conversation, now=at(2026, 3, 9, 10, 0))
    assert monday_morning.payload["open_now"] is True and "12:00" in monday_morning.body


async def test_a_fault_code_gets_its_first_checks_and_articles(waiting, fault_e101, language):
    conversation, _ticket, _shipment = waiting
    _code, titles = fault_e101
    ws = await join(conversation.customer, conversation.pk)
    answer = await ask(ws, SAYS[language]["fault"])
    title, checks = (
        ("激光器过温", "检查冷水机水位。")
        if language == "zh-hans"
        else ("Laser over-temperature", "Check the chiller's water level.")
    )
    assert f"E101 {title}" in answer["body"] and checks in answer["body"]
    data = answer["bot_data"]
    assert [a["title"] for a in data["articles"]] == [titles[language]]  # the other language's: no
    assert titles[language] not in answer["body"]  # named once: the page lists it as a link
    assert data["intent"] == "fault_code" and data["fault_code"] == "E101"
    assert data["articles"][0]["url"].startswith(f"/portal/help/{language}/")
    await ws.disconnect()


async def test_the_bot_follows_the_whole_conversation(waiting, language):
    """Not only the first message: every question while the customer waits is answered."""
    conversation, ticket, shipment = waiting
    ws = await join(conversation.customer, conversation.pk)
    says = SAYS[language]
    assert (await ask(ws, says["hours"], 1))["bot_data"]["intent"] == "hours"
    assert "actions" in (await until(ws, is_bot))["bot_data"]  # the queue notice, once
    second = await ask(ws, says["ticket"].format(reference=ticket.reference), 2)
    assert second["bot_data"]["intent"] == "ticket"
    third = await ask(ws, says["parts"], 3)
    assert shipment.tracking_number in third["body"]
    assert await ws.receive_nothing(timeout=0.5)
    assert await sync_to_async(bot_count)(conversation) == 4
    await ws.disconnect()


async def test_a_message_that_asks_nothing_gets_no_bot_noise(waiting, language):
    """The queue notice comes once, with the first message; then only questions are answered."""
    conversation, _ticket, _shipment = waiting
    ws = await join(conversation.customer, conversation.pk)
    notice = await ask(ws, SAYS[language]["hello"], 1)
    assert notice["bot_data"]["intent"] == "queue"
    assert said(language, "All our agents are busy right now.") in notice["body"] or (
        notice["bot_data"]["opens_at"] is not None
    )
    await nothing_more(ws, SAYS[language]["nothing"], 2)
    await nothing_more(ws, SAYS[language]["hello"], 3)
    assert await sync_to_async(bot_count)(conversation) == 1
    await ws.disconnect()


async def test_once_an_agent_accepts_the_bot_is_silent(waiting, queue_setup, language):
    conversation, ticket, _shipment = waiting
    ws = await join(conversation.customer, conversation.pk)
    question = SAYS[language]["ticket"].format(reference=ticket.reference)
    assert ticket.reference in (await ask(ws, question, 1))["body"]
    await until(ws, is_bot)  # the queue notice
    await sync_to_async(presence.conversation_accept)(
        conversation=conversation, agent=queue_setup[2][0]
    )
    await nothing_more(ws, question, 2)
    await nothing_more(ws, SAYS[language]["hours"], 3)
    # "Talk to a person" in a chat an agent has: no bot either.
    await ws.send_json_to({"type": "person"})
    assert await ws.receive_nothing(timeout=1)
    assert await sync_to_async(bot_count)(conversation) == 2
    await ws.disconnect()


def test_the_bot_checks_the_chat_still_waits_before_it_speaks(waiting, queue_setup):
    """An agent accepted after the consumer read the chat's state: the row decides."""
    conversation, ticket, _shipment = waiting
    stale = Conversation.objects.get(pk=conversation.pk)
    presence.conversation_accept(conversation=conversation, agent=queue_setup[2][0])
    assert bot.answer(conversation=stale, text=f"status of {ticket.reference}?") == []
    assert bot_count(conversation) == 0


def test_a_chinese_message_is_answered_in_chinese_whatever_the_profile_says(waiting):
    conversation, _ticket, shipment = waiting
    conversation.customer.language = "en"
    (answer, _notice) = bot.answer(conversation=conversation, text="我的配件到哪了")
    assert said("zh-hans", "Here is what the carrier reports:") in answer.body
    assert f"{shipment.tracking_number}: {said('zh-hans', 'In transit')}" in answer.body


def test_an_answer_costs_the_same_queries_with_one_row_or_many(
    waiting, open_ticket, make_shipment, fault_e101
):
    """No query grows with the customer's tickets and shipments."""
    conversation, ticket, shipment = waiting
    customer = conversation.customer
    questions = [
        "Where are my parts?",
        f"Where is my parcel {shipment.tracking_number}?",
        f"What is the status of {ticket.reference}?",
        "how is my ticket going",
        "When do you open?",
        "E101 again",
    ]
    bot.answer(conversation=conversation, text="Hello")  # the queue notice, once

    def costs() -> list[int]:
        counted = []
        for text in questions:
            with CaptureQueriesContext(connection) as queries:
                assert bot.answer(conversation=conversation, text=text)
            counted.append(len(queries))
        return counted

    few = costs()
    for _n in range(30):
        make_shipment(customer.organisation, tickets=[open_ticket(customer)])
    assert costs() == few


@pytest.fixture
def porosity_articles(queue_setup):
    """A help article about pores in the seam, in each language."""
    from knowledge.services import article_create

    titles = {
        "en": "Porosity in the seam: check the shielding gas first",
        "zh-hans": "焊缝气孔：先检查保护气",
    }
    bodies = {
        "en": "Pores in the seam usually mean poor gas coverage; check the gas flow.",
        "zh-hans": "焊缝出现气孔，通常是保护气不足，请检查气体流量。",
    }
    for language, title in titles.items():
        article_create(
            actor=queue_setup[1],
            title=title,
            body=bodies[language],
            language=language,
            is_published=True,
        )
    return titles


async def test_a_symptom_gets_help_articles_once(waiting, porosity_articles, language):
    """Articles for what the customer describes; the same ones are not suggested again."""
    conversation, _ticket, _shipment = waiting
    symptom = {"en": "Pores in the seam again", "zh-hans": "焊缝又有气孔了"}[language]
    ws = await join(conversation.customer, conversation.pk)
    first = await ask(ws, symptom, 1)  # with the queue notice, the first time
    assert porosity_articles[language] not in first["body"]  # the page lists it as a link
    assert first["bot_data"]["articles"][0]["title"] == porosity_articles[language]
    assert first["bot_data"]["articles"][0]["url"].startswith(f"/portal/help/{language}/")
    await nothing_more(ws, symptom, 2)
    await ws.disconnect()
