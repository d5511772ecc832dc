"""Concurrency as callers see it, on PostgreSQL (checklist 45 and 46).

Requests run in threads, each with its own database connection, through the HTTP API; a small
delay inside the services' transaction (tickets/tests/test_concurrency.py's `hold_lock`)
makes them overlap for certain. The services' own concurrency tests are in test_concurrency.
"""

from __future__ import annotations

import json
import math
import threading
from types import SimpleNamespace

import pytest
from django.db.models import Sum
from django.test import Client

from audit.models import AuditEvent
from audit.selectors import chain_verify
from testsupport import sign_in
from tickets.models import AgentLoad, Message, SLATimer, Ticket
from tickets.services import escalation
from tickets.services import references as reference_numbers
from tickets.services import tickets as svc
from tickets.tests import test_concurrency as service_races
from tickets.tests.conftest import at

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

hold_lock = service_races.hold_lock
overlapped, run_together = service_races.overlapped, service_races.run_together

JSON = "application/json"


def test_two_agents_writing_with_the_same_version_one_gets_201_the_other_409(
    open_ticket, queue_setup, hold_lock
):
    """The API's optimistic lock (`expected_version`), as two agents' requests race."""
    agents = queue_setup[2][:2]
    ticket = open_ticket()
    version = ticket.version
    clients = [sign_in(Client(), agent) for agent in agents]

    def reply(i: int):
        return clients[i].post(
            f"/api/v1/tickets/{ticket.reference}/reply/",
            json.dumps({"body": f"Agent {i}: check the nozzle.", "expected_version": version}),
            content_type=JSON,
        )

    outcomes = run_together([lambda i=i: reply(i) for i in (0, 1)])
    assert [o.error for o in outcomes] == [None, None]
    assert overlapped(*outcomes), "the two requests did not run at the same time"
    statuses = sorted(o.value.status_code for o in outcomes)
    assert statuses == [201, 409], [o.value.content for o in outcomes]
    loser = next(o.value for o in outcomes if o.value.status_code == 409)
    assert loser.json()["error"]["code"] == "version_conflict"
    saved = Ticket.objects.get(pk=ticket.pk)
    assert saved.version == version + 1
    assert Message.objects.filter(ticket=ticket, from_customer=False).count() == 1


@pytest.fixture
def held_create(make_customer, make_unit, monkeypatch):
    """A partner's API key and `post(idempotency_key)`, a ticket create over the API with it.
    The first create to reach the service sets `entered` and holds there until `release` is
    set, so its Idempotency-Key stays claimed by a request still running (or one whose
    process dies); later creates pass straight through."""
    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create

    customer = make_customer()
    unit = make_unit(customer.organisation)
    _key, token = api_key_create(
        actor=None, organisation=customer.organisation, name="ERP", scope=ApiScope.READ_WRITE
    )
    entered, release = threading.Event(), threading.Event()
    original = svc.ticket_open

    def held_open(**kwargs):
        if not entered.is_set():  # the first request only
            entered.set()
            assert release.wait(timeout=30)
        return original(**kwargs)

    monkeypatch.setattr(svc, "ticket_open", held_open)
    body = json.dumps({"subject": "Chiller alarm", "body": "E21.", "unit": unit.serial_number})

    def post(idempotency_key: str):
        return Client(HTTP_AUTHORIZATION=f"Api-Key {token}").post(
            "/api/v1/tickets/", body, content_type=JSON, HTTP_IDEMPOTENCY_KEY=idempotency_key
        )

    return SimpleNamespace(
        organisation=customer.organisation, entered=entered, release=release, post=post
    )


def test_a_concurrent_duplicate_with_the_same_idempotency_key_gets_409(open_ticket, held_create):
    """While the first request is still running, its duplicate is told to retry (409); once
    it finished, the same request is answered with the first answer and nothing new."""

    def post():
        return held_create.post("order-1")

    def duplicate():
        assert held_create.entered.wait(timeout=30)
        try:
            return post()
        finally:
            held_create.release.set()

    first, second = run_together([post, duplicate])
    assert (first.error, second.error) == (None, None)
    assert (first.value.status_code, second.value.status_code) == (201, 409)
    assert second.value.json()["error"]["code"] == "idempotency_in_flight"
    replay = post()
    assert replay.status_code == 201 and replay.json() == first.value.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert Ticket.objects.filter(organisation=held_create.organisation).count() == 1


def test_a_claim_whose_process_died_is_taken_over_by_the_next_retry_at_once(held_create):
    """A create killed mid-request (its web process gone, so its database session too) leaves
    its claim on the key; the partner's retry is answered at once (201, one ticket), not 409
    for IDEMPOTENCY_STALE_SECONDS. While the session lives the duplicate still gets 409."""
    from django.db import connection

    from core.models import IdempotencyRecord

    def post():
        return held_create.post("order-9")

    def post_and_hang_up():
        try:
            post()
        finally:
            connection.close()  # the thread's own connection (it reconnected to clean up)

    first = threading.Thread(target=post_and_hang_up, daemon=True)  # a connection of its own
    first.start()
    assert held_create.entered.wait(timeout=30)
    claim = IdempotencyRecord.objects.get(key="order-9")
    assert claim.holder_pid and not claim.completed
    assert post().status_code == 409  # its session is alive: it may still finish

    with connection.cursor() as cursor:  # the web process is killed: its session ends
        cursor.execute("SELECT pg_terminate_backend(%s)", [claim.holder_pid])
    retry = post()
    held_create.release.set()
    first.join(timeout=30)
    assert retry.status_code == 201, retry.content
    assert Ticket.objects.filter(organisation=held_create.organisation).count() == 1
    assert post().json() == retry.json()  # and the key now replays that answer


def test_a_hundred_parallel_openings_count_exactly(open_ticket, make_customer, make_unit):
    """Reference numbers and agents' open-ticket counters (F() updates) after 100 openings
    from 8 connections at once: gap-free, and the counters equal the tickets."""
    customer = make_customer()
    unit = make_unit(customer.organisation)
    open_ticket(customer, unit=unit)  # the year's counter exists
    before = reference_numbers.counter_last(2026)
    total, workers = 100, 8

    def open_some(n: int):
        return [
            svc.ticket_open(
                actor=customer,
                organisation=customer.organisation,
                requester=customer,
                unit=unit,
                subject=f"Wire feed stops {n}-{k}",
                body="The wire feeder stops.",
                now=at(2026, 3, 2, 9, 0),
            ).reference
            for k in range(total // workers + (n < total % workers))
        ]

    outcomes = run_together([lambda n=n: open_some(n) for n in range(workers)])
    assert [o.error for o in outcomes] == [None] * workers
    references = sorted(ref for o in outcomes for ref in o.value)
    assert references == [f"WD-2026-{k:06d}" for k in range(before + 1, before + total + 1)]
    assert reference_numbers.counter_last(2026) == before + total
    active = Ticket.objects.filter(assignee__isnull=False)
    for load in AgentLoad.objects.all():
        assert load.open_tickets == active.filter(assignee_id=load.agent_id).count()
    assert AgentLoad.objects.aggregate(n=Sum("open_tickets"))["n"] == active.count() > total / 2


def test_a_hundred_parallel_sla_ticks_fire_each_timer_exactly_once(
    open_ticket, make_customer, monkeypatch
):
    """At least 100 due SLA timers, 8 scanners at once: every timer fires once, none is lost,
    every ticket's escalation and audit trail is exact."""
    original = escalation.audit_record_sets

    def slow_audit(
        sets, **kwargs
    ):  # keep each scan's rows locked a little, so the scanners collide
        import time

        time.sleep(0.05)
        return original(sets, **kwargs)

    monkeypatch.setattr(escalation, "audit_record_sets", slow_audit)
    customer = make_customer()
    now = at(2026, 3, 2, 14, 0)  # first response (due 14:00) has passed every threshold
    first = open_ticket(customer)
    per_ticket = SLATimer.objects.filter(ticket=first, fire_at__lte=now).count()
    assert per_ticket > 0
    tickets = [first] + [open_ticket(customer) for _ in range(math.ceil(100 / per_ticket) - 1)]
    due = SLATimer.objects.filter(fire_at__lte=now)
    expected = due.count()
    assert expected >= 100
    outcomes = run_together([lambda: escalation.sla_scan(now=now, batch=5) for _ in range(8)])
    assert [o.error for o in outcomes] == [None] * 8
    fired = sum(o.value["timers"] for o in outcomes)
    # Timers whose ticket another scanner held are left for the next tick (by design).
    while due.exists():
        fired += escalation.sla_scan(now=now, batch=50)["timers"]
    assert fired == expected
    for ticket in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
        assert (ticket.escalation_level, ticket.sla_breached) == (2, True)
        assert ticket.first_response_fired >= 100
    escalated = AuditEvent.objects.filter(action="ticket.escalated")
    assert sorted(int(e.target_id) for e in escalated) == sorted(t.pk for t in tickets)
    assert escalation.sla_scan(now=now)["timers"] == 0
    assert chain_verify().ok
