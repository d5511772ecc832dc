"""Concurrent edits of one ticket, concurrent openings and scans, on PostgreSQL.

Each thread has its own database connection and transaction, as two requests or two workers
would. A small delay inside the services' transaction (after the row is locked) makes the
threads overlap for certain, so a missing lock would show up as a lost update.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connections

from audit.models import AuditEvent
from audit.selectors import chain_verify
from core.errors import Conflict
from notifications.models import Outbox
from tickets.models import Message, SLATimer, Ticket
from tickets.services import escalation, sla
from tickets.services import references as reference_numbers
from tickets.services import tickets as svc
from tickets.tests.conftest import at

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOIN_SECONDS = 60
HOLD_SECONDS = 0.3


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None
    started: float = 0.0
    finished: float = 0.0


def run_together(calls: list[Callable[[], Any]]) -> list[Outcome]:
    """Run the calls in threads released at once; fail if one does not finish in time."""
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    def work(call: Callable[[], Any], out: Outcome) -> None:
        try:
            barrier.wait(timeout=JOIN_SECONDS)
            out.started = time.monotonic()
            out.value = call()
        except BaseException as exc:
            out.error = exc
        finally:
            out.finished = time.monotonic()
            connections.close_all()  # this thread's connections only

    threads = [
        threading.Thread(target=work, args=(call, out), daemon=True)
        for call, out in zip(calls, outcomes, strict=True)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_SECONDS
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0))
    hung = sum(thread.is_alive() for thread in threads)
    if hung:
        pytest.fail(f"{hung} of {len(threads)} threads did not finish in {JOIN_SECONDS} s")
    return outcomes


def overlapped(a: Outcome, b: Outcome) -> bool:
    return a.started < b.finished and b.started < a.finished


@pytest.fixture
def hold_lock(monkeypatch):
    """Make ticket services hold the row lock a little longer, so that threads collide.

    The audit row is written after the ticket row is locked and saved, inside the same
    transaction; sleeping there keeps the lock while the other thread tries to take it.
    """
    original = svc.audit_record

    def slow_audit_record(**kwargs):
        time.sleep(HOLD_SECONDS)
        return original(**kwargs)

    monkeypatch.setattr(svc, "audit_record", slow_audit_record)


@pytest.mark.parametrize(
    ("action", "edit"),
    [
        (
            "ticket.priority_changed",
            lambda ticket, actor, version, i: svc.ticket_set_priority(
                ticket=ticket,
                priority=(2, 1)[i],
                actor=actor,
                expected_version=version,
                now=at(2026, 3, 2, 10, 0),
            ),
        ),
        (
            "ticket.changed",
            lambda ticket, actor, version, i: svc.ticket_update(
                ticket=ticket,
                actor=actor,
                expected_version=version,
                subject=f"Porosity, checked by agent {i}",
            ),
        ),
    ],
    ids=["set_priority", "update"],
)
def test_same_expected_version_one_wins_the_other_gets_409(
    open_ticket, queue_setup, hold_lock, action, edit
):
    agents = queue_setup[2]
    ticket = open_ticket()
    version = ticket.version
    outcomes = run_together(
        [lambda i=i: edit(Ticket(pk=ticket.pk), agents[i], version, i) for i in (0, 1)]
    )
    assert overlapped(*outcomes), "the two edits did not run at the same time"
    winners = [o for o in outcomes if o.error is None]
    losers = [o for o in outcomes if o.error is not None]
    assert len(winners) == 1 and len(losers) == 1, [o.error for o in outcomes]
    error = losers[0].error
    assert isinstance(error, Conflict), repr(error)
    assert (error.code, error.status_code) == ("version_conflict", 409)
    # The loser was blocked on the winner's row lock, then saw the new version.
    assert losers[0].finished - losers[0].started >= HOLD_SECONDS / 2
    saved = Ticket.objects.get(pk=ticket.pk)
    won = winners[0].value
    assert saved.version == version + 1
    assert (saved.priority, saved.subject) == (won.priority, won.subject)
    assert AuditEvent.objects.filter(action=action, target_id=str(ticket.pk)).count() == 1


def test_concurrent_replies_without_version_both_land(open_ticket, queue_setup, hold_lock):
    agents = queue_setup[2]
    ticket = open_ticket()  # Monday 09:00, one message (the customer's)
    version = ticket.version
    times = (at(2026, 3, 2, 10, 0), at(2026, 3, 2, 10, 1))
    outcomes = run_together(
        [
            lambda i=i: svc.ticket_reply(
                ticket=Ticket(pk=ticket.pk),
                author=agents[i],
                body=f"Agent {i}: please check the nozzle.",
                now=times[i],
            )
            for i in (0, 1)
        ]
    )
    assert [o.error for o in outcomes] == [None, None]
    assert overlapped(*outcomes), "the two replies did not run at the same time"
    saved = Ticket.objects.get(pk=ticket.pk)
    assert saved.version == version + 2
    messages = Message.objects.filter(ticket=ticket, from_customer=False)
    assert sorted(m.pk for m in messages) == sorted(o.value.pk for o in outcomes)
    # The reply that got the lock first is the first response; the other did not overwrite it.
    first = min(range(2), key=lambda i: outcomes[i].finished)
    assert saved.first_responded_at == times[first]
    assert saved.first_response_met is True
    assert AuditEvent.objects.filter(action="ticket.replied", target_id=str(ticket.pk)).count() == 2
    for o in outcomes:
        assert Outbox.objects.filter(key=f"ticket-reply:{o.value.pk}:email").exists()
    assert chain_verify().ok


@pytest.mark.parametrize("counter_exists", [False, True], ids=["first-of-year", "running"])
def test_concurrent_openings_get_unique_gap_free_references(
    open_ticket, make_customer, make_unit, counter_exists
):
    customer = make_customer()
    unit = make_unit(customer.organisation)
    if counter_exists:
        open_ticket(customer, unit=unit)
    before = reference_numbers.counter_last(2026)
    n = 8
    outcomes = run_together(
        [
            lambda i=i: svc.ticket_open(
                actor=customer,
                organisation=customer.organisation,
                requester=customer,
                unit=unit,
                subject=f"Wire feed stops, line {i}",
                body="The wire feeder stops after a few seconds.",
                now=at(2026, 3, 2, 9, 0),
            )
            for i in range(n)
        ]
    )
    assert [o.error for o in outcomes] == [None] * n
    references = sorted(o.value.reference for o in outcomes)
    assert references == [f"WD-2026-{k:06d}" for k in range(before + 1, before + n + 1)]
    assert reference_numbers.counter_last(2026) == before + n
    stored = set(Ticket.objects.filter(reference__in=references).values_list("pk", flat=True))
    assert stored == {o.value.pk for o in outcomes}
    assert chain_verify().ok


def test_two_scanners_fire_each_timer_once(open_ticket, make_customer, monkeypatch):
    # Hold each scan's transaction open a little (its audit rows come last), so that the
    # second scanner runs while the first still has its timers locked.
    original = escalation.audit_record_sets

    def slow_audit(sets, **kwargs):
        time.sleep(HOLD_SECONDS)
        return original(sets, **kwargs)

    monkeypatch.setattr(escalation, "audit_record_sets", slow_audit)
    customer = make_customer()
    tickets = [open_ticket(customer) for _ in range(6)]  # first response due 14:00
    due = SLATimer.objects.filter(fire_at__lte=at(2026, 3, 2, 14, 0))
    expected = due.count()
    assert expected > 0
    outcomes = run_together(
        [lambda: escalation.sla_scan(now=at(2026, 3, 2, 14, 0), batch=5) for _ in range(2)]
    )
    assert [o.error for o in outcomes] == [None, None]
    assert overlapped(*outcomes), "the two scans did not run at the same time"
    assert all(o.value["timers"] > 0 for o in outcomes)  # both did part of the work
    # A timer whose ticket the other scanner held locked is left for the next run (by design:
    # waiting for the lock could deadlock with a ticket service); run it, as the beat would.
    # What must never happen is a timer firing twice, or one lost.
    leftover = escalation.sla_scan(now=at(2026, 3, 2, 14, 0), batch=5)
    assert sum(o.value["timers"] for o in outcomes) + leftover["timers"] == expected
    assert leftover["timers"] < expected
    assert sum(o.value["escalations"] for o in outcomes) + leftover["escalations"] == len(tickets)
    assert not due.exists()
    for t in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
        assert t.escalation_level == 2
        # Opened at 1, escalated in one step, or in two when its timers were split.
        assert t.version in (2, 3)
    escalated = AuditEvent.objects.filter(action="ticket.escalated")
    assert sorted(int(e.target_id) for e in escalated) == sorted(t.pk for t in tickets)
    assert chain_verify().ok


@pytest.mark.parametrize("first", ["reply", "scan"])
def test_scan_and_reply_on_one_ticket_neither_deadlocks_nor_loses_work(
    open_ticket, make_customer, queue_setup, monkeypatch, first
):
    agent = queue_setup[2][0]
    customer = make_customer()
    busy = open_ticket(customer)  # first response due 14:00
    others = [open_ticket(customer) for _ in range(3)]
    now = at(2026, 3, 2, 14, 30)  # 3 first response timers of each ticket are due
    # With the reply first, small batches: skipping the busy ticket must not end the run.
    batch = 4 if first == "reply" else escalation.BATCH

    def held(original):
        def slow(*args, **kwargs):
            time.sleep(HOLD_SECONDS)
            return original(*args, **kwargs)

        return slow

    if first == "reply":
        # The reply holds the ticket row while it is about to drop the ticket's pending timers.
        monkeypatch.setattr(sla, "_drop_pending", held(sla._drop_pending))
    else:
        # The scan holds its timer and ticket rows while it writes the notices.
        monkeypatch.setattr(escalation, "_notify", held(escalation._notify))

    def reply():
        if first == "scan":
            time.sleep(HOLD_SECONDS / 3)
        return svc.ticket_reply(ticket=Ticket(pk=busy.pk), author=agent, body="On it.", now=now)

    def scan():
        if first == "reply":
            time.sleep(HOLD_SECONDS / 3)
        return escalation.sla_scan(now=now, batch=batch)

    replied, scanned = run_together([reply, scan])
    assert (replied.error, scanned.error) == (None, None)
    assert overlapped(replied, scanned)
    busy.refresh_from_db()
    # The reply landed and recorded the late first response.
    assert Message.objects.filter(pk=replied.value.pk, ticket=busy).exists()
    assert (busy.first_responded_at, busy.first_response_met) == (now, False)
    # The tickets nobody was editing were escalated either way, in the same run.
    for other in Ticket.objects.filter(pk__in=[t.pk for t in others]):
        assert (other.escalation_level, other.sla_breached, other.version) == (2, True, 2)
    if first == "reply":
        # The scan left the ticket being edited alone; the reply then closed its first
        # response target, so its pending timers went with it.
        assert scanned.value == {"timers": 9, "warnings": 3, "breaches": 3, "escalations": 3}
        assert (busy.escalation_level, busy.sla_warning, busy.version) == (0, False, 2)
    else:
        # The reply waited for the scan and applied on top of the escalation.
        assert scanned.value == {"timers": 12, "warnings": 4, "breaches": 4, "escalations": 4}
        assert (busy.escalation_level, busy.sla_breached, busy.version) == (2, True, 3)
    assert not SLATimer.objects.filter(ticket=busy, target="first_response").exists()
    # Nothing is left to fire twice.
    assert escalation.sla_scan(now=now)["timers"] == 0
    assert chain_verify().ok
