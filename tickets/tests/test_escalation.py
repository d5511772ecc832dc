"""The SLA scan: warnings, breaches and escalation rules fired in bulk, coalesced notices."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent, PendingAuditEvent
from audit.selectors import chain_verify
from audit.services import audit_record_many, audit_seal
from notifications.models import Outbox
from testsupport import sign_in
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
    # Fired timers are deleted; each ticket records the highest threshold fired.
    assert not SLATimer.objects.filter(fire_at__lte=at(2026, 3, 2, 14, 1)).exists()
    assert Ticket.objects.filter(first_response_fired__gte=100).count() >= 11


# ------------------------------------------------------------------ notices at scale


def notices() -> dict[str, Outbox]:
    return {row.recipient: row for row in Outbox.objects.filter(key__startswith="sla-escalation:")}


def list_links(body: str) -> list[str]:
    """The admin list links under the "and N more" line of a notice, as paths."""
    found = re.findall(r"^  (http\S+/admin/tickets/ticket/\?\S+)$", body, re.M)
    return [urlsplit(url).path + "?" + urlsplit(url).query for url in found]


def test_notices_of_a_scan_are_handed_over_in_one_publish(
    open_ticket, make_customer, queue_setup, django_capture_on_commit_callbacks
):
    _queue, supervisor, agents = queue_setup
    customer = make_customer()
    for agent in agents * 2:
        ticket = open_ticket(customer)
        svc.ticket_assign(ticket=ticket, agent=agent, actor=supervisor)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        counts = escalation.sla_scan(now=at(2026, 3, 2, 14, 1))
    assert counts["escalations"] == 2 * len(agents)
    mail = notices()
    assert len(mail) == len(agents) + 1  # every assignee and the supervisor
    # One task carries every notice of the run (not one publish per recipient), and it
    # delivered them all.
    delivery_callbacks = [c for c in callbacks if "deliver_outbox" in repr(c)]
    assert len(delivery_callbacks) == 1
    assert {row.status for row in mail.values()} == {"sent"}


def test_notice_lists_the_most_urgent_tickets_and_links_to_all_of_them(
    open_ticket, make_customer, queue_setup, monkeypatch, client
):
    queue, supervisor, agents = queue_setup
    monkeypatch.setattr(escalation, "NOTICE_ITEMS", 2)
    customer = make_customer()
    # Opened Monday 09:00: first response is due 10:00 for P2, 14:00 for P3.
    urgent = [open_ticket(customer, priority=2) for _ in range(2)]
    normal = [open_ticket(customer, priority=3) for _ in range(2)]
    for ticket in urgent + normal:
        svc.ticket_assign(ticket=ticket, agent=agents[0], actor=supervisor)
    counts = escalation.sla_scan(now=at(2026, 3, 2, 14, 1))
    assert counts["escalations"] == 4  # the level-2 rule at 100 % of first response
    mail = notices()
    assert set(mail) == {agents[0].email, supervisor.email}  # one notice per recipient
    everything = {t.reference for t in urgent + normal}
    for recipient, row in mail.items():
        # The subject counts every ticket; the body lists the most urgent ones (priority,
        # then due time), says how many more there are and links to the list of them all.
        assert row.subject == "SLA escalation: 4 tickets need attention"
        for ticket in urgent:
            assert f"{ticket.reference} [P2] First response 100% — due 2026-03-02 10:00" in row.body
            assert f"/admin/tickets/ticket/{ticket.pk}/change/" in row.body
        assert not any(t.reference in row.body for t in normal)
        assert "… and 2 more tickets. All escalated tickets still open:" in row.body
        links = list_links(row.body)
        assert len(links) == 1
        user = agents[0] if recipient == agents[0].email else supervisor
        sign_in(client, user)
        page = client.get(links[0], secure=True)
        assert page.status_code == 200
        assert {t.reference for t in page.context["cl"].result_list} == everything
    # The assignee's link is their own list; the supervisor's is the queue's.
    assert "assigned=mine" in list_links(mail[agents[0].email].body)[0]
    assert f"queue__id__in={queue.pk}&" in list_links(mail[supervisor.email].body)[0]


def test_notice_within_the_limit_lists_everything_and_no_link(open_ticket, make_customer):
    customer = make_customer()
    tickets = [open_ticket(customer) for _ in range(3)]
    escalation.sla_scan(now=at(2026, 3, 2, 14, 1))
    for row in notices().values():
        listed = [t for t in tickets if t.reference in row.body]
        assert listed and "more ticket" not in row.body and not list_links(row.body)


# ------------------------------------------------------------------ the audit trail


@pytest.mark.audit_deferred
def test_the_scan_seals_its_own_events_which_name_their_ticket(
    open_ticket, make_customer, django_capture_on_commit_callbacks
):
    customer = make_customer()
    tickets = [open_ticket(customer) for _ in range(3)]
    audit_seal()  # the openings
    audit_record_many(action="test.waiting", model=Ticket, target_ids=[tickets[0].pk])
    with django_capture_on_commit_callbacks(execute=True):
        counts = escalation.sla_scan(now=at(2026, 3, 2, 14, 1))
    assert counts == {"timers": 9, "warnings": 3, "breaches": 3, "escalations": 3}
    # Deferred sealing or not, the scan chains its events (one per ticket and what fired for
    # it) in its own transaction: nothing of it is left for the sealer to read back.
    assert list(PendingAuditEvent.objects.values_list("action", flat=True)) == ["test.waiting"]
    assert chain_verify().ok
    # An auditor searching the log for a ticket finds its warning, breach and escalation.
    scan_actions = ["ticket.sla_warning", "ticket.sla_breached", "ticket.escalated"]
    for ticket in tickets:
        events = AuditEvent.objects.filter(
            target_type="tickets.ticket", target_id=str(ticket.pk), action__in=scan_actions
        )
        assert sorted((e.action, e.actor_ref, e.data.get("target")) for e in events) == [
            ("ticket.escalated", "system", "first_response"),
            ("ticket.sla_breached", "system", "first_response"),
            ("ticket.sla_warning", "system", None),
        ]
    # The event another transaction left pending is chained after them.
    assert audit_seal() == 1
    assert chain_verify().ok


@pytest.mark.audit_deferred
def test_bulk_events_keep_every_target_and_payload_through_one_statement(db):
    # Ids that an array literal would mangle unquoted: quotes, commas, braces, NULL, spaces.
    odd = ["7", 'a"b', "c,d", "{x}", "back\\slash", "two words", "NULL"]
    assert audit_record_many(action="test.shared", model=Ticket, target_ids=odd, data={"k": 1})
    audit_record_many(
        action="test.each",
        model=Ticket,
        target_ids=odd[:3],
        data={"k": 1},
        per_target={'a"b': {"extra": "é"}},
    )
    assert audit_seal() == 10
    shared = AuditEvent.objects.filter(action="test.shared").order_by("seq")
    assert [(e.target_type, e.target_id, e.data) for e in shared] == [
        ("tickets.ticket", value, {"k": 1}) for value in odd
    ]
    each = AuditEvent.objects.filter(action="test.each").order_by("seq")
    assert [(e.target_id, e.data) for e in each] == [
        ("7", {"k": 1}),
        ('a"b', {"k": 1, "extra": "é"}),
        ("c,d", {"k": 1}),
    ]
    assert chain_verify().ok


def scraped(client, prefix: str) -> dict[tuple[str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    return {
        (sample.name, sample.labels.get("priority", "")): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name.startswith(prefix)
    }


def test_tickets_at_risk_and_in_breach_are_exported_on_metrics(open_ticket, client):
    open_ticket()
    open_ticket()  # premium P3, first response due 4 business hours after Mon 09:00
    escalation.sla_scan(now=at(2026, 3, 2, 12, 1))  # past the 75 % warning
    warned = scraped(client, "welddesk_tickets_")
    assert warned[("welddesk_tickets_active", "3")] == 2
    assert warned[("welddesk_tickets_sla_at_risk", "3")] == 2
    assert warned[("welddesk_tickets_sla_breached", "3")] == 0
    escalation.sla_scan(now=at(2026, 3, 2, 14, 1))  # first response overdue
    breached = scraped(client, "welddesk_tickets_")
    assert breached[("welddesk_tickets_sla_at_risk", "3")] == 0
    assert breached[("welddesk_tickets_sla_breached", "3")] == 2
    # Every priority has its series (zeros included), and nothing else labels them.
    assert {p for name, p in breached if name == "welddesk_tickets_sla_breached"} == {
        "1",
        "2",
        "3",
        "4",
    }
