"""The chat console beside the chat (issue 18, point 7): the customer's organisation, open
tickets, machines with warranty, shipments under way and recent chats; messages keep their
line breaks; a chat is handed only to an active desk agent of its queue."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chat import presence, services
from chat.models import Conversation, ConversationStatus
from core.errors import ApplicationError
from equipment.models import Unit
from logistics.models import Shipment, TrackingStatus
from testsupport import sign_in
from tickets.models import QueueMember, Status, Ticket
from tickets.tests.conftest import open_ticket  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def context_list(content: str, name: str) -> list[str]:
    """The texts of the items of one list of the customer panel."""
    match = re.search(
        rf'<ul class="chat-context" id="chat-context-{name}">(.*?)</ul>', content, re.S
    )
    if match is None:
        return []
    return [
        re.sub(r"<[^>]+>", "", item).strip()
        for item in re.findall(r"<li>(.*?)</li>", match.group(1), re.S)
    ]


@pytest.fixture
def chat_world(client, queue_setup, make_customer, make_unit, make_org, open_ticket):  # noqa: F811
    queue, _supervisor, agents = queue_setup
    agent = agents[0]
    customer = make_customer()
    org = customer.organisation
    unit = make_unit(org)
    chat = services.conversation_open(customer=customer, unit=unit)
    presence.conversation_accept(conversation=chat, agent=agent)
    ticket = open_ticket(customer, unit=unit, subject="Seams show pores")
    closed = open_ticket(customer, unit=unit, subject="Old closed one")
    Ticket.objects.filter(pk=closed.pk).update(status=Status.CLOSED)
    other_customer = make_customer(make_org())
    foreign = open_ticket(other_customer, subject="Another company's ticket")
    sign_in(client, agent)
    return {
        "client": client,
        "agent": agent,
        "queue": queue,
        "agents": agents,
        "customer": customer,
        "org": org,
        "unit": unit,
        "chat": chat,
        "ticket": ticket,
        "closed": closed,
        "foreign": foreign,
        "url": reverse("admin:chat_conversation_change", args=[chat.pk]),
    }


def _shipment(org, agent, number: str, status: str = TrackingStatus.IN_TRANSIT) -> Shipment:
    return Shipment.objects.create(
        organisation=org,
        kind="spare_part",
        carrier="sf",
        tracking_number=number,
        delivery_address="上海市 1 号",
        items=[],
        status=status,
        created_by=agent,
    )


def test_the_console_shows_the_customer_beside_the_chat(chat_world):
    world = chat_world
    _shipment(world["org"], world["agent"], "SF100")
    _shipment(world["org"], world["agent"], "SF200", status=TrackingStatus.DELIVERED)
    earlier = Conversation.objects.create(
        organisation=world["org"],
        customer=world["customer"],
        queue=world["queue"],
        status=ConversationStatus.CLOSED,
        created_at=timezone.now() - dt.timedelta(days=3),
    )
    response = world["client"].get(world["url"])
    assert response.status_code == 200
    content = response.content.decode()
    assert world["org"].name in content
    tickets = context_list(content, "tickets")
    assert len(tickets) == 1 and world["ticket"].reference in tickets[0]
    assert f'href="/admin/tickets/ticket/{world["ticket"].pk}/change/"' in content
    assert world["closed"].reference not in content and world["foreign"].reference not in content
    units = context_list(content, "units")
    assert len(units) == 1 and world["unit"].serial_number in units[0]
    assert str(world["unit"].get_warranty_status_display()) in units[0]
    assert f"warranty warranty-{world['unit'].warranty_status()}" in content
    shipments = context_list(content, "shipments")
    assert len(shipments) == 1 and "SF100" in shipments[0]
    chats = context_list(content, "chats")
    assert len(chats) == 1
    assert reverse("admin:chat_conversation_change", args=[earlier.pk]) in content


def test_the_customer_panel_shows_empty_states(client, queue_setup, make_customer):
    queue, _supervisor, (agent, *_) = queue_setup
    chat = services.conversation_open(customer=make_customer())
    Conversation.objects.filter(pk=chat.pk).update(queue=queue)  # no machine: no routing
    presence.conversation_accept(conversation=chat, agent=agent)
    sign_in(client, agent)
    content = client.get(reverse("admin:chat_conversation_change", args=[chat.pk])).content
    text = content.decode()
    for words in (
        "No open tickets.",
        "No machines on record.",
        "Nothing under way.",
        "No earlier chats.",
    ):
        assert words in text


def _grow(world, n: int) -> None:
    """n more open tickets, machines, shipments under way and earlier chats."""
    org, template, unit = world["org"], world["ticket"], world["unit"]
    start = Ticket.objects.count()
    tickets = []
    for i in range(n):
        copy = Ticket.objects.get(pk=template.pk)
        copy.pk = None
        copy.reference = f"WD-2099-{start + i:06d}"
        tickets.append(copy)
    Ticket.objects.bulk_create(tickets)
    units = []
    for i in range(n):
        copy = Unit.objects.get(pk=unit.pk)
        copy.pk = None
        copy.serial_number = f"HW2000-X{Unit.objects.count() + i:05d}"
        units.append(copy)
    Unit.objects.bulk_create(units)
    for _ in range(n):
        _shipment(org, world["agent"], f"SF9{Shipment.objects.count():05d}")
    Conversation.objects.bulk_create(
        Conversation(
            organisation=org,
            customer=world["customer"],
            queue=world["queue"],
            status=ConversationStatus.CLOSED,
        )
        for _ in range(n)
    )


def test_the_console_costs_the_same_queries_with_1_and_50_rows(chat_world):
    world = chat_world
    client, url = world["client"], world["url"]
    _shipment(world["org"], world["agent"], "SF1")
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        first = client.get(url)
    _grow(world, 49)
    with CaptureQueriesContext(connection) as fifty:
        second = client.get(url)
    assert first.context["customer"]["tickets_count"] == 1
    assert second.context["customer"]["tickets_count"] == 50
    assert second.context["customer"]["units_count"] == 50
    assert second.context["customer"]["shipments_count"] == 50
    assert len(second.context["customer"]["tickets"]) == 5
    assert len(fifty.captured_queries) == len(one.captured_queries)
    print(f"console page: {len(one.captured_queries)} queries")  # noqa: T201


def test_messages_keep_their_line_breaks_escaped(chat_world):
    world = chat_world
    client, url = world["client"], world["url"]
    client.post(url, {"operation": "send", "body": "Line one\nLine two <b>bold?</b>"})
    content = client.get(url).content.decode()
    assert "Line one<br>Line two &lt;b&gt;bold?&lt;/b&gt;" in content
    assert "chat/keys.js" in content
    from django.contrib.staticfiles import finders

    with open(finders.find("chat/console.css"), encoding="utf-8") as styles:
        css = styles.read()
    assert ".chat-msg .text { white-space: pre-wrap; }" in css


# ------------------------------------------------------------------- who a chat may go to


def test_a_chat_goes_only_to_an_active_desk_agent_of_its_queue(chat_world, make_staff):
    world = chat_world
    queue, chat, agent = world["queue"], world["chat"], world["agent"]
    officer = make_staff(roles=("compliance_officer",))
    administrator = make_staff(roles=(), is_superuser=True)
    resting = make_staff(full_name="Resting Member")
    for person in (officer, administrator):
        QueueMember.objects.create(queue=queue, agent=person)
    QueueMember.objects.create(queue=queue, agent=resting, is_active=False)
    picker = world["client"].get(world["url"]).context["colleagues"]
    offered = {person.pk for person in picker}
    assert offered == {a.pk for a in world["agents"][1:]}
    for outsider in (officer, administrator, resting):
        with pytest.raises(ApplicationError):
            presence.conversation_transfer(conversation=chat, to_agent=outsider, actor=agent)
        refused = world["client"].post(
            world["url"], {"operation": "transfer", "agent": outsider.pk}, follow=True
        )
        assert refused.status_code == 200
        chat.refresh_from_db()
        assert chat.agent_id == agent.pk
