"""Retention: the nightly run removes what is past its period, a dry run only counts."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from chat.models import ChatMessage, Conversation
from compliance.retention import retention_run
from intake.models import Call
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_and_new(make_customer):
    from chat import services as chat_services
    from intake import services as intake_services
    from tickets.defaults import ensure_calendar, ensure_policies
    from tickets.services.tickets import ticket_open

    ensure_policies(ensure_calendar())
    customer = make_customer(full_name="Old Customer")
    now = timezone.now()
    made = {}
    for age, label in ((800, "old"), (10, "new")):
        ticket = ticket_open(
            actor=customer,
            organisation=customer.organisation,
            requester=customer,
            subject=f"{label} ticket",
            body=f"{label}: my private details",
        )
        Ticket.objects.filter(pk=ticket.pk).update(
            status="closed", closed_at=now - dt.timedelta(days=age * 2)
        )
        chat = chat_services.conversation_open(customer=customer)
        chat_services.message_post(
            conversation=chat, sender=customer, body=f"{label} chat words", client_id=label
        )
        Conversation.objects.filter(pk=chat.pk).update(
            status="closed", closed_at=now - dt.timedelta(days=age)
        )
        intake_services.call_event(
            call_id=f"{label}-call",
            line="east",
            event="started",
            at=now - dt.timedelta(days=age // 4),
            caller="13900139000",
        )
        made[label] = (ticket, chat)
    return made


def test_a_dry_run_counts_and_changes_nothing_then_the_run_removes_only_the_old(old_and_new):
    old_ticket, old_chat = old_and_new["old"]
    new_ticket, new_chat = old_and_new["new"]
    out = StringIO()
    call_command("retention_run", "--dry-run", stdout=out)
    assert "tickets: would remove 1 tickets, 1 messages" in out.getvalue()
    assert Message.objects.get(ticket=old_ticket).body == "old: my private details"
    counts = retention_run()
    assert counts["tickets"]["messages"] == 1 and counts["chats"]["messages"] == 1
    assert counts["calls"] == {"calls": 1}
    assert "erased" in Message.objects.get(ticket=old_ticket).body
    assert Message.objects.get(ticket=new_ticket).body == "new: my private details"
    assert "erased" in ChatMessage.objects.get(conversation=old_chat).body
    assert ChatMessage.objects.get(conversation=new_chat).body == "new chat words"
    assert Call.objects.get(call_id="old-call").caller == ""
    assert Call.objects.get(call_id="new-call").caller == "13900139000"
    # The facts stay: the ticket, its dates and status.
    old_ticket.refresh_from_db()
    assert old_ticket.status == "closed" and old_ticket.subject == "old ticket"
    # Running again finds nothing more; every run is audited, dry or not.
    again = retention_run()
    assert again["tickets"]["messages"] == 0 and again["chats"]["messages"] == 0
    actions = list(
        AuditEvent.objects.filter(action__startswith="privacy.retention")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "privacy.retention_dry_run",
        "privacy.retention_run",
        "privacy.retention_run",
    ]


@pytest.mark.parametrize("kind", ["tickets", "chats"])
def test_the_period_is_exact_a_day_past_it_goes_and_a_day_before_it_stays(
    make_customer, settings, kind
):
    """Checklist 40: closed N+1 days ago is anonymised by the run, closed N-1 days ago is not."""
    from chat import services as chat_services
    from tickets.defaults import ensure_calendar, ensure_policies
    from tickets.services.tickets import ticket_open

    ensure_policies(ensure_calendar())
    settings.RETENTION_TICKET_DAYS = settings.RETENTION_CHAT_DAYS = 30
    customer = make_customer(full_name="Boundary Customer")
    now = timezone.now()
    bodies = {}
    for age in (31, 29):
        closed_at = now - dt.timedelta(days=age)
        if kind == "tickets":
            ticket = ticket_open(
                actor=customer,
                organisation=customer.organisation,
                requester=customer,
                subject=f"closed {age} days ago",
                body=f"{age}: private words",
            )
            Ticket.objects.filter(pk=ticket.pk).update(status="closed", closed_at=closed_at)
            bodies[age] = lambda t=ticket: Message.objects.get(ticket=t).body
        else:
            chat = chat_services.conversation_open(customer=customer)
            chat_services.message_post(
                conversation=chat,
                sender=customer,
                body=f"{age}: private words",
                client_id=f"age-{age}",
            )
            Conversation.objects.filter(pk=chat.pk).update(status="closed", closed_at=closed_at)
            bodies[age] = lambda c=chat: ChatMessage.objects.get(conversation=c).body
    counts = retention_run(now=now)
    assert counts[kind]["messages"] == 1
    assert "erased" in bodies[31]()
    assert bodies[29]() == "29: private words"
    run = AuditEvent.objects.get(action="privacy.retention_run")
    assert run.data[kind]["messages"] == 1
