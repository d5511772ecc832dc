"""The SLA scan: warnings, breaches and escalation rules fired in bulk, coalesced notices."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.selectors import chain_verify
from notifications.models import Outbox
from tickets.models import SLATimer, Status, Ticket
from tickets.services import escalation
from tickets.services import tickets as svc
from tickets.tests.conftest import at


def test_scan_fires_warning_breach_and_escalation(open_ticket, make_customer, queue_setup):
    _queue, supervisor, agents = queue_setup
    customer = make_customer()
    tickets = [open_ticket(customer) for _ in range(3)]  # premium P3, opened Mon 2 Mar 09:00
    # Nothing is due at opening time.
    assert escalation.sla_scan(now=at(2026, 3, 2, 9, 1))["timers"] == 0
    # First response (4 business hours) is overdue at 14:01: the 75 % warning of first
    # response and its 100 % breach and rule fire; resolution is untouched.
    counts = escalation.sla_scan(now=at(2026, 3, 2, 14, 1))
    assert counts["breaches"] == 3
    for t in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
        assert t.sla_breached and t.first_response_met is False
        assert t.escalation_level == 2
    supervisor_mail = Outbox.objects.filter(key__startswith="sla-escalation:").filter(about_type="")
    recipients = [row.recipient for row in supervisor_mail]
    # One coalesced notice per recipient: the supervisor once, each assignee once.
    assert recipients.count(supervisor.email) == 1
    assert len(recipients) == 1 + len({t.assignee_id for t in tickets})
    assert AuditEvent.objects.filter(action="ticket.sla_breached").count() == 3
    assert AuditEvent.objects.filter(action="ticket.escalated").count() == 3
    # Running the scan again at the same time fires nothing twice.
    assert escalation.sla_scan(now=at(2026, 3, 2, 14, 2))["timers"] == 0
    assert chain_verify().ok
    _ = agents


def test_resolution_150_percent_raises_priority(open_ticket):
    ticket = open_ticket()
    # Resolution is 40 business hours; 150 % = 60 hours -> Wednesday 11 Mar, 09:30 or so.
    escalation.sla_scan(now=at(2026, 3, 20, 9, 0))
    ticket.refresh_from_db()
    assert ticket.priority == 2
    assert ticket.escalation_level == 3
    assert ticket.version > 1


def test_paused_ticket_does_not_escalate(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    svc.ticket_reply(
        ticket=ticket, author=agent, body="Please send a photo.", now=at(2026, 3, 2, 9, 30)
    )
    svc.ticket_transition(
        ticket=ticket, status=Status.WAITING, actor=agent, now=at(2026, 3, 2, 9, 31)
    )
    counts = escalation.sla_scan(now=at(2026, 4, 30, 9, 0))
    assert counts["timers"] == 0
    ticket.refresh_from_db()
    assert not ticket.sla_breached


def test_scan_query_count_does_not_grow_with_due_tickets(open_ticket, make_customer):
    customer = make_customer()
    open_ticket(customer)
    with CaptureQueriesContext(connection) as one:
        escalation.sla_scan(now=at(2026, 3, 2, 14, 1))
    for _ in range(10):
        open_ticket(customer)
    with CaptureQueriesContext(connection) as many:
        escalation.sla_scan(now=at(2026, 3, 2, 14, 1))
    # Outbox rows are one per recipient (more agents get a notice), everything else is fixed.
    recipients_extra = 3 * 4
    assert len(many.captured_queries) <= len(one.captured_queries) + recipients_extra
    assert SLATimer.objects.filter(fired_at__isnull=False).count() >= 11
