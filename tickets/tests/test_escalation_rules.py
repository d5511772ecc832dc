"""Escalation rules that reassign, move and raise; calendar-time (24/7) SLA policies."""

from __future__ import annotations

from collections import Counter

import pytest

from audit.models import AuditEvent
from audit.selectors import chain_verify
from notifications.models import Outbox
from tickets.models import (
    Clock,
    EscalationRule,
    Queue,
    SLAPolicy,
    SLATimer,
    Status,
    Target,
    Ticket,
    TimerKind,
)
from tickets.services import escalation
from tickets.services import tickets as svc
from tickets.tests.conftest import at

ESCALATION_KEY = "sla-escalation:"


def policy(tier: str = "premium", priority: int = 3) -> SLAPolicy:
    return SLAPolicy.objects.get(tier=tier, priority=priority)


def escalation_mail() -> dict[str, Outbox]:
    """Return the escalation notices by recipient address (one per recipient per run)."""
    rows = list(Outbox.objects.filter(key__startswith=ESCALATION_KEY))
    by_recipient = {row.recipient: row for row in rows}
    assert len(by_recipient) == len(rows), "a recipient got two notices in one run"
    return by_recipient


def snapshot(tickets: list[Ticket]) -> list[tuple]:
    return list(
        Ticket.objects.filter(pk__in=[t.pk for t in tickets])
        .order_by("pk")
        .values_list(
            "version", "assignee_id", "queue_id", "escalation_level", "priority", "sla_breached"
        )
    )


@pytest.fixture
def escalation_desk(db, make_staff):
    """A catch-all escalation queue with an English-speaking duty manager, and a senior
    engineer who reads Chinese. Routing still prefers the regional queue of queue_setup."""
    duty = make_staff(roles=("supervisor",), email="duty@welddesk.example", language="en")
    senior = make_staff(email="senior@welddesk.example", language="zh-hans")
    queue = Queue.objects.create(name="Escalations", slug="escalations", supervisor=duty)
    return queue, duty, senior


# ------------------------------------------------------------------ escalation rules


def test_rule_reassigns_moves_queue_notifies_and_audits_once(
    open_ticket, make_customer, queue_setup, escalation_desk
):
    home_queue, home_supervisor, agents = queue_setup
    esc_queue, duty, senior = escalation_desk
    rule = EscalationRule.objects.create(
        policy=policy(),
        target=Target.FIRST_RESPONSE,
        percent=50,
        level=1,
        reassign_to=senior,
        move_to_queue=esc_queue,
        notify_assignee=True,
        notify_supervisor=True,
    )
    customer = make_customer()
    tickets = [open_ticket(customer) for _ in range(2)]  # premium P3, Monday 2 Mar 09:00
    assert {t.queue_id for t in tickets} == {home_queue.pk}
    assert {t.assignee_id for t in tickets} <= {a.pk for a in agents}
    before = {t.pk: t.version for t in tickets}
    # First response is 4 business hours, so 50 % is 2 hours after opening: 11:00.
    assert SLATimer.objects.get(ticket=tickets[0], rule=rule).fire_at == at(2026, 3, 2, 11, 0)
    assert escalation.sla_scan(now=at(2026, 3, 2, 10, 59))["timers"] == 0

    counts = escalation.sla_scan(now=at(2026, 3, 2, 11, 0))

    assert counts == {"timers": 2, "warnings": 0, "breaches": 0, "escalations": 2}
    # The agents' load counts moved with the tickets.
    from tickets.models import AgentLoad

    loads = dict(AgentLoad.objects.values_list("agent_id", "open_tickets"))
    assert loads[senior.pk] == Ticket.objects.filter(assignee=senior).count() == 2
    assert all(loads.get(a.pk, 0) == 0 for a in agents)
    for t in Ticket.objects.filter(pk__in=before):
        assert t.assignee_id == senior.pk
        assert t.queue_id == esc_queue.pk
        assert t.escalation_level == 1
        assert t.version == before[t.pk] + 1
        assert t.priority == 3
        assert not t.sla_warning and not t.sla_breached
    events = AuditEvent.objects.filter(action="ticket.escalated", target_type="tickets.ticket")
    assert sorted(int(e.target_id) for e in events) == sorted(before)
    for event in events:
        assert event.actor_ref == "system"
        assert event.data == {
            "level": 1,
            "target": Target.FIRST_RESPONSE,
            "percent": 50,
            "rule": rule.pk,
        }
    # The notice goes to the new assignee and to the supervisor of the queue the ticket now
    # sits in; the former assignees and the regional supervisor are not told.
    mail = escalation_mail()
    assert set(mail) == {senior.email, duty.email}
    assert home_supervisor.email not in mail
    for row in mail.values():
        assert all(t.reference in row.body for t in tickets)  # coalesced: both tickets, one row
        assert row.about_type == ""
    zh, en = mail[senior.email], mail[duty.email]
    assert (zh.language, en.language) == ("zh-hans", "en")
    assert zh.subject == "SLA升级：2 个工单需要处理"
    assert en.subject == "SLA escalation: 2 tickets need attention"
    # The line of each ticket: reference, priority, target in the reader's language, due time.
    assert f"{tickets[0].reference} [P3] 首次响应 50% — 截止 2026-03-02 14:00" in zh.body
    assert f"{tickets[0].reference} [P3] First response 50% — due 2026-03-02 14:00" in en.body
    assert "First response" not in zh.body

    # The same instant again: nothing fires, nothing changes, nothing is sent or audited.
    state = snapshot(tickets)
    mail_count, audit_count = Outbox.objects.count(), AuditEvent.objects.count()
    again = escalation.sla_scan(now=at(2026, 3, 2, 11, 0))
    assert again == {"timers": 0, "warnings": 0, "breaches": 0, "escalations": 0}
    assert snapshot(tickets) == state
    assert Outbox.objects.count() == mail_count
    assert AuditEvent.objects.count() == audit_count
    assert chain_verify().ok


def test_level_never_drops_and_priority_stops_at_p1(open_ticket, queue_setup):
    supervisor = queue_setup[1]
    p2 = policy(priority=2)  # premium P2: first response 60, resolution 960 business minutes
    EscalationRule.objects.create(
        policy=p2,
        target=Target.FIRST_RESPONSE,
        percent=50,
        level=3,
        raise_priority=True,
        notify_assignee=False,
    )
    ticket = open_ticket(priority=2)  # Monday 2 Mar 09:00
    assignee = ticket.assignee

    def scan_and_read(now):
        counts = escalation.sla_scan(now=now)
        ticket.refresh_from_db()
        return counts

    # 09:30 (50 % of first response): level 3 and one step of priority, P2 -> P1.
    assert scan_and_read(at(2026, 3, 2, 9, 30))["escalations"] == 1
    assert (ticket.escalation_level, ticket.priority) == (3, 1)
    assert ticket.sla_policy_id == p2.pk  # a raise reorders the queue; it does not re-time
    # 10:00 (100 % of first response): the default level-2 rule fires after the level-3 one.
    counts = scan_and_read(at(2026, 3, 2, 10, 0))
    assert counts["escalations"] == 1 and counts["breaches"] == 1
    assert ticket.escalation_level == 3
    assert ticket.first_response_met is False
    last = AuditEvent.objects.filter(action="ticket.escalated", target_id=str(ticket.pk)).first()
    assert (last.data["level"], last.data["target"]) == (2, Target.FIRST_RESPONSE)
    # The default level-1 rule at 75 % of resolution and level-2 rule at 100 % do not lower it.
    for percent in (75, 100):
        timer = SLATimer.objects.get(
            ticket=ticket, target=Target.RESOLUTION, kind=TimerKind.RULE, percent=percent
        )
        assert scan_and_read(timer.fire_at)["escalations"] == 1
        assert ticket.escalation_level == 3
    # The default rule at 150 % of resolution raises the priority again: it stays P1.
    res_150 = SLATimer.objects.get(
        ticket=ticket, target=Target.RESOLUTION, kind=TimerKind.RULE, percent=150
    )
    version = ticket.version
    assert scan_and_read(res_150.fire_at)["escalations"] == 1
    assert (ticket.escalation_level, ticket.priority) == (3, 1)
    assert ticket.version == version + 1
    assert ticket.assignee == assignee  # none of these rules reassigns
    levels = list(
        AuditEvent.objects.filter(action="ticket.escalated", target_id=str(ticket.pk))
        .order_by("seq")
        .values_list("data__level", flat=True)
    )
    assert levels == [3, 2, 1, 2, 3]
    # One notice per run to each person a fired rule names: the supervisor for the default
    # rules at 100 % and 150 %, the assignee for every default rule (the first rule told nobody).
    notices = Counter(
        row.recipient for row in Outbox.objects.filter(key__startswith=ESCALATION_KEY)
    )
    assert notices == {supervisor.email: 3, assignee.email: 4}


def test_two_rules_due_in_one_scan_both_apply_and_both_are_audited(
    open_ticket, queue_setup, escalation_desk
):
    supervisor = queue_setup[1]
    senior = escalation_desk[2]
    early = EscalationRule.objects.create(
        policy=policy(),
        target=Target.FIRST_RESPONSE,
        percent=50,
        level=3,
        reassign_to=senior,
        raise_priority=True,
    )
    default = EscalationRule.objects.get(policy=policy(), target=Target.FIRST_RESPONSE, percent=100)
    ticket = open_ticket()  # Monday 09:00; 50 % at 11:00, 100 % at 14:00
    # The scanner was down all morning: both rules are due in the same run.
    counts = escalation.sla_scan(now=at(2026, 3, 2, 14, 0))
    assert counts["escalations"] == 2
    after = Ticket.objects.get(pk=ticket.pk)
    assert (after.escalation_level, after.priority, after.assignee_id) == (3, 2, senior.pk)
    assert after.version == ticket.version + 2
    events = AuditEvent.objects.filter(action="ticket.escalated", target_id=str(ticket.pk))
    recorded = sorted((e.data["rule"], e.data["level"]) for e in events)
    assert recorded == sorted([(early.pk, 3), (default.pk, 2)])
    # Notices stay coalesced: each recipient gets one notice listing the ticket once.
    mail = escalation_mail()
    assert set(mail) == {senior.email, supervisor.email}
    assert all(row.body.count(ticket.reference) == 1 for row in mail.values())


def test_of_two_reassigning_rules_due_in_one_scan_the_later_one_stands(
    open_ticket, make_staff, escalation_desk
):
    esc_queue, _duty, senior = escalation_desk
    second = make_staff(email="second.line@welddesk.example")
    # Created first, so the smaller id: the order that counts is when each rule is due.
    later = EscalationRule.objects.create(
        policy=policy(), target=Target.FIRST_RESPONSE, percent=90, level=2, reassign_to=second
    )
    EscalationRule.objects.create(
        policy=policy(),
        target=Target.FIRST_RESPONSE,
        percent=60,
        level=1,
        reassign_to=senior,
        move_to_queue=esc_queue,
    )
    ticket = open_ticket()  # Monday 09:00; first response due 14:00
    counts = escalation.sla_scan(now=at(2026, 3, 2, 14, 0))  # 60 %, 90 % and 100 % are due
    assert counts["escalations"] == 3
    after = Ticket.objects.get(pk=ticket.pk)
    # As if each rule had fired on time: 60 % moved it and gave it to the senior engineer,
    # 90 % then gave it to the second line, 100 % (the default rule) changed neither.
    assert (after.assignee_id, after.queue_id) == (second.pk, esc_queue.pk)
    assert (after.escalation_level, after.version) == (2, ticket.version + 3)
    events = AuditEvent.objects.filter(action="ticket.escalated", target_id=str(ticket.pk))
    assert sorted(e.data["percent"] for e in events) == [60, 90, 100]
    assert later.pk in {e.data["rule"] for e in events}


def test_rule_that_only_moves_the_queue_keeps_assignee_and_tells_nobody(
    open_ticket, escalation_desk
):
    esc_queue = escalation_desk[0]
    EscalationRule.objects.create(
        policy=policy(),
        target=Target.FIRST_RESPONSE,
        percent=50,
        level=1,
        move_to_queue=esc_queue,
        notify_assignee=False,
        notify_supervisor=False,
    )
    ticket = open_ticket()
    counts = escalation.sla_scan(now=at(2026, 3, 2, 11, 0))
    assert counts["escalations"] == 1
    moved = Ticket.objects.get(pk=ticket.pk)
    assert moved.queue_id == esc_queue.pk
    assert moved.assignee_id == ticket.assignee_id
    assert moved.escalation_level == 1
    assert not Outbox.objects.filter(key__startswith=ESCALATION_KEY).exists()
    assert AuditEvent.objects.filter(action="ticket.escalated", target_id=str(ticket.pk)).exists()


# ------------------------------------------------------------------ calendar-time policies


@pytest.fixture
def calendar_and_business(sla_setup):
    """Premium P2 counts around the clock and premium P3 in business hours, same targets.

    The service calendar has China's 2026 holidays: Saturday 14 Feb is a make-up working
    day, 16-20 and 23 Feb are the Spring Festival holidays, Saturday 28 Feb works again.
    """

    def configure(*, first_response: int, next_reply: int, resolution: int):
        minutes = {
            "first_response_minutes": first_response,
            "next_reply_minutes": next_reply,
            "resolution_minutes": resolution,
        }
        SLAPolicy.objects.filter(tier="premium", priority=2).update(clock=Clock.CALENDAR, **minutes)
        SLAPolicy.objects.filter(tier="premium", priority=3).update(clock=Clock.BUSINESS, **minutes)

    return configure


def test_calendar_policy_counts_wall_clock_minutes(open_ticket, queue_setup, calendar_and_business):
    agent = queue_setup[2][0]
    calendar_and_business(first_response=60, next_reply=120, resolution=240)
    friday_5pm = at(2026, 2, 13, 17, 0)
    around = open_ticket(priority=2, now=friday_5pm)
    business = open_ticket(priority=3, now=friday_5pm)
    assert around.sla_policy.clock == Clock.CALENDAR
    assert business.sla_policy.clock == Clock.BUSINESS
    # Around the clock: 60 and 240 wall-clock minutes, on a Friday evening.
    assert around.first_response_due == at(2026, 2, 13, 18, 0)
    assert around.resolution_due == at(2026, 2, 13, 21, 0)
    breach = SLATimer.objects.get(ticket=around, target=Target.RESOLUTION, kind=TimerKind.BREACH)
    assert breach.fire_at == around.resolution_due
    # Business hours: 30 minutes on Friday until 17:30, the rest on the make-up Saturday
    # from 08:30.
    assert business.first_response_due == at(2026, 2, 14, 9, 0)
    assert business.resolution_due == at(2026, 2, 14, 12, 0)

    escalation.sla_scan(now=at(2026, 2, 13, 21, 0))
    around.refresh_from_db()
    business.refresh_from_db()
    assert around.sla_breached and around.first_response_met is False
    assert not business.sla_breached and not business.sla_warning

    # The same ticket moved to the business-hours policy before any time was used: its due
    # times become the later business ones.
    same = open_ticket(priority=2, now=friday_5pm)
    svc.ticket_set_priority(ticket=same, priority=3, actor=agent, now=friday_5pm)
    same.refresh_from_db()
    assert same.sla_policy.clock == Clock.BUSINESS
    assert (same.first_response_due, same.resolution_due) == (
        business.first_response_due,
        business.resolution_due,
    )
    assert same.resolution_due > around.resolution_due


def test_calendar_policy_runs_through_weekend_and_spring_festival(
    open_ticket, calendar_and_business
):
    calendar_and_business(first_response=240, next_reply=480, resolution=5 * 24 * 60)
    friday_5pm = at(2026, 2, 13, 17, 0)
    around = open_ticket(priority=2, now=friday_5pm)
    business = open_ticket(priority=3, now=friday_5pm)
    # 240 minutes around the clock end at 21:00 the same Friday.
    assert around.first_response_due == at(2026, 2, 13, 21, 0)
    # Five days of 24 hours: across the weekend into the holiday, Wednesday 18 Feb 17:00.
    assert around.resolution_due == at(2026, 2, 18, 17, 0)
    # The same 120 hours in business time: 0.5 h Friday, 8 h on the make-up Saturday, the
    # holidays skipped, 4 days from Tuesday 24 Feb, the make-up Saturday 28 Feb, the week of
    # 2 Mar, Monday to Wednesday of the next week (112.5 h) and 7.5 h on Thursday 12 Mar.
    assert business.first_response_due == at(2026, 2, 14, 12, 0)
    assert business.resolution_due == at(2026, 3, 12, 17, 0)


def test_calendar_policy_pause_keeps_the_time_left(open_ticket, queue_setup, calendar_and_business):
    agent = queue_setup[2][0]
    calendar_and_business(first_response=60, next_reply=120, resolution=5 * 24 * 60)
    ticket = open_ticket(priority=2, now=at(2026, 2, 13, 17, 0))
    assert ticket.resolution_due == at(2026, 2, 18, 17, 0)
    svc.ticket_reply(ticket=ticket, author=agent, body="Which gas?", now=at(2026, 2, 13, 17, 30))
    # Waiting on the customer from Saturday 17:00: 24 of 120 hours used.
    svc.ticket_transition(
        ticket=ticket, status=Status.WAITING, actor=agent, now=at(2026, 2, 14, 17, 0)
    )
    ticket.refresh_from_db()
    assert ticket.sla_remaining == {Target.RESOLUTION: 96 * 3600}
    assert not SLATimer.objects.filter(ticket=ticket).exists()
    # Nothing fires while it waits, even past the original due time.
    assert escalation.sla_scan(now=at(2026, 2, 17, 8, 59))["timers"] == 0

    # The customer answers on Tuesday 17 Feb 09:00 (a holiday: calendar time does not care).
    svc.ticket_reply(ticket=ticket, author=ticket.requester, body="Argon.", now=at(2026, 2, 17, 9))
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.sla_paused_at is None
    assert ticket.resolution_due == at(2026, 2, 21, 9, 0)  # 96 hours later
    assert ticket.next_reply_due == at(2026, 2, 17, 11, 0)
    pending = {
        (t.target, t.kind, t.percent): t.fire_at for t in SLATimer.objects.filter(ticket=ticket)
    }
    assert pending[(Target.RESOLUTION, TimerKind.BREACH, 100)] == ticket.resolution_due
    # 75 % of 120 h is 90 h, 24 were used before the pause: 66 h after Tuesday 09:00.
    assert pending[(Target.RESOLUTION, TimerKind.WARNING, 75)] == at(2026, 2, 20, 3, 0)

    # A second pause by an agent, resumed by an agent: the clock again keeps what was left.
    svc.ticket_reply(ticket=ticket, author=agent, body="Thanks.", now=at(2026, 2, 17, 10))
    svc.ticket_transition(
        ticket=ticket, status=Status.ON_HOLD, actor=agent, now=at(2026, 2, 18, 9, 0)
    )
    ticket.refresh_from_db()
    assert ticket.sla_remaining == {Target.RESOLUTION: 72 * 3600}
    svc.ticket_transition(ticket=ticket, status=Status.OPEN, actor=agent, now=at(2026, 2, 23, 9))
    ticket.refresh_from_db()
    assert ticket.resolution_due == at(2026, 2, 26, 9, 0)
    assert not ticket.sla_breached
