"""A partner's system hears of its organisation's tickets (issue 23.5): opened, answered by the
desk, status changed, resolved, each POSTed signed to the organisation's webhook endpoints
(a receiver on loopback), with the ticket's facts and nothing of another organisation; the
ticket write pays one outbox row whatever the number of endpoints."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import endpoints, services
from notifications.models import Channel, EventType, Outbox, Status
from testsupport import webhook_signature_ok
from tickets.services import tickets

from .conftest import at

pytestmark = pytest.mark.django_db


def run_outbox() -> None:
    """Deliver every due pending row once, in order, as the workers would (the deliveries a
    fan-out writes included)."""
    done: set[int] = set()
    while True:
        due = [
            pk
            for pk in Outbox.objects.filter(
                status=Status.PENDING, next_attempt_at__lte=timezone.now()
            )
            .order_by("pk")
            .values_list("pk", flat=True)
            if pk not in done
        ]
        if not due:
            return
        for pk in due:
            services.outbox_deliver(outbox_id=pk)
            done.add(pk)


def received(receiver, path: str) -> list[dict]:
    return [json.loads(r["body"]) for r in receiver.at(path)]


@pytest.fixture
def endpoint_of(queue_setup, webhook_receiver):
    """Register an endpoint of an organisation's system (by its supervisor); return the
    signing secret."""
    _queue, supervisor, _agents = queue_setup

    def register(org, path: str, events=tuple(EventType.values)) -> str:
        _endpoint, secret = endpoints.endpoint_register(
            actor=supervisor, organisation=org, url=webhook_receiver.url(path), events=events
        )
        return secret

    return register


def test_each_ticket_event_reaches_the_organisations_endpoint_signed(
    open_ticket, make_customer, endpoint_of, webhook_receiver, queue_setup, settings
):
    customer = make_customer(full_name="王建国", email="wang@hengrui.example")
    secret = endpoint_of(customer.organisation, "/erp")
    agent = queue_setup[2][0]
    ticket = open_ticket(customer, subject="Porosity in stainless seams")
    answer = tickets.ticket_reply(ticket=ticket, author=agent, body="Check the gas flow, please.")
    tickets.ticket_transition(ticket=ticket, status="waiting", actor=agent)
    tickets.ticket_transition(ticket=ticket, status="resolved", actor=agent)
    run_outbox()

    requests = webhook_receiver.at("/erp")
    assert all(webhook_signature_ok(secret, r) for r in requests)
    events = [json.loads(r["body"]) for r in requests]
    assert [(e["type"], e.get("previous_status"), e["ticket"]["status"]) for e in events] == [
        ("ticket.opened", None, "new"),
        ("ticket.answered", None, "open"),
        ("ticket.status_changed", "new", "open"),
        ("ticket.status_changed", "open", "waiting"),
        ("ticket.status_changed", "waiting", "resolved"),
        ("ticket.resolved", "waiting", "resolved"),
    ]
    assert [r["headers"]["x-welddesk-event"] for r in requests] == [e["type"] for e in events]
    opened, answered, *_rest, resolved = events
    ticket.refresh_from_db()
    assert opened["ticket"] == {
        "reference": ticket.reference,
        "subject": "Porosity in stainless seams",
        "status": "new",
        "priority": 3,
        "kind": "fault",
        "organisation": customer.organisation_id,
        "unit": ticket.unit.serial_number,
        "version": 1,
        "created_at": at(2026, 3, 2, 9, 0).isoformat(),
        "updated_at": opened["ticket"]["updated_at"],
        "resolved_at": None,
        "closed_at": None,
        "url": f"{settings.SITE_URL}/portal/tickets/{ticket.reference}/",
        "api_url": f"{settings.SITE_URL}/api/v1/tickets/{ticket.reference}/",
    }
    assert answered["message"] == {"id": answer.pk, "created_at": answer.created_at.isoformat()}
    assert resolved["ticket"]["resolved_at"] == ticket.resolved_at.isoformat()
    assert resolved["ticket"]["version"] == ticket.version
    # One id per event, the same id twice for nothing; every delivery its own idempotency id.
    assert len({e["id"] for e in events}) == len({e["delivery"] for e in events}) == 6
    assert [r["headers"]["idempotency-key"] for r in requests] == [e["delivery"] for e in events]
    # No person and no message text: the partner reads those through the API with its key.
    everything = b"".join(r["body"] for r in requests).decode()
    for private in ("王建国", "wang@hengrui.example", agent.email, agent.full_name, "gas flow"):
        assert private not in everything


def test_an_endpoint_hears_only_the_events_it_chose(
    open_ticket, make_customer, endpoint_of, webhook_receiver, queue_setup
):
    customer = make_customer()
    endpoint_of(customer.organisation, "/closed", events=["ticket.resolved"])
    ticket = open_ticket(customer)
    tickets.ticket_transition(ticket=ticket, status="resolved", actor=queue_setup[1])
    run_outbox()
    assert [e["type"] for e in received(webhook_receiver, "/closed")] == ["ticket.resolved"]


def test_a_customers_own_reply_that_reopens_is_a_status_change_and_a_note_is_nothing(
    open_ticket, make_customer, endpoint_of, webhook_receiver, queue_setup
):
    customer = make_customer()
    endpoint_of(customer.organisation, "/erp")
    agent = queue_setup[2][0]
    ticket = open_ticket(customer)
    tickets.ticket_transition(ticket=ticket, status="resolved", actor=agent)
    tickets.ticket_reply(ticket=ticket, author=agent, body="Internal: gas supplier", internal=True)
    tickets.ticket_reply(ticket=ticket, author=customer, body="It came back.")
    run_outbox()
    types = [(e["type"], e.get("previous_status")) for e in received(webhook_receiver, "/erp")]
    assert types == [
        ("ticket.opened", None),
        ("ticket.status_changed", "new"),
        ("ticket.resolved", "new"),
        ("ticket.status_changed", "resolved"),
    ]


def test_merged_duplicates_are_closed_for_their_organisation(
    open_ticket, make_customer, endpoint_of, webhook_receiver, queue_setup
):
    customer = make_customer()
    endpoint_of(customer.organisation, "/erp")
    first, duplicate = open_ticket(customer), open_ticket(customer)
    tickets.ticket_merge(duplicates=[duplicate], into=first, actor=queue_setup[1])
    run_outbox()
    closed = [e for e in received(webhook_receiver, "/erp") if e["type"] != "ticket.opened"]
    assert [(e["ticket"]["reference"], e["ticket"]["status"]) for e in closed] == [
        (duplicate.reference, "closed")
    ]


def test_an_organisation_never_hears_of_another_organisations_tickets(
    open_ticket, make_customer, make_org, endpoint_of, webhook_receiver, queue_setup
):
    ours = make_customer(make_org("苏州恒锐"))
    theirs = make_customer(make_org("东莞锦川"))
    endpoint_of(ours.organisation, "/ours")
    endpoint_of(theirs.organisation, "/theirs")
    their_ticket = open_ticket(theirs, subject="Wire feed jams in Dongguan")
    tickets.ticket_transition(ticket=their_ticket, status="resolved", actor=queue_setup[1])
    our_ticket = open_ticket(ours)
    run_outbox()
    ours_heard = received(webhook_receiver, "/ours")
    assert {e["ticket"]["reference"] for e in ours_heard} == {our_ticket.reference}
    assert "Dongguan" not in json.dumps(ours_heard)
    theirs_heard = received(webhook_receiver, "/theirs")
    assert {e["ticket"]["reference"] for e in theirs_heard} == {their_ticket.reference}


def test_the_ticket_write_costs_the_same_whatever_the_number_of_endpoints(
    open_ticket, make_customer, endpoint_of, queue_setup
):
    """The write pays one outbox row; the fan-out to the endpoints is the worker's."""
    agent = queue_setup[1]
    customer = make_customer()
    for _warm in range(3):  # each agent of the queue has a load row: openings alike
        open_ticket(customer)

    def costs() -> tuple[list[int], list[str]]:
        with CaptureQueriesContext(connection) as opening:
            ticket = open_ticket(customer)
        with CaptureQueriesContext(connection) as reply:
            tickets.ticket_reply(ticket=ticket, author=agent, body="On our way.")
        with CaptureQueriesContext(connection) as status:
            tickets.ticket_transition(ticket=ticket, status="resolved", actor=agent)
        sqls = [q["sql"] for c in (opening, reply, status) for q in c.captured_queries]
        return [len(opening), len(reply), len(status)], [
            s for s in sqls if "notifications_webhook" in s
        ]

    without, webhook_reads = costs()
    assert webhook_reads == []  # the write never reads the endpoints
    for n in range(5):
        endpoint_of(customer.organisation, f"/erp/{n}")
    assert costs() == (without, [])
    # Three writes a round: one event row each, and no delivery before the worker's fan-out.
    assert Outbox.objects.filter(channel=Channel.ORG_EVENT).count() == 3 + 3 + 3
    assert not Outbox.objects.filter(channel=Channel.ORG_WEBHOOK).exists()
    run_outbox()
    # The second round's fan-out: the opening, the answer (answered, status changed) and the
    # resolution (status changed, resolved) to each of the five endpoints.
    assert Outbox.objects.filter(channel=Channel.ORG_WEBHOOK).count() == 5 * (1 + 2 + 2)
