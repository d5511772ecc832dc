"""Ticket services: opening, workflow, SLA pause and reprice, assignment, merge, versions."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.selectors import chain_verify
from core.errors import ApplicationError, Conflict, Forbidden
from notifications.models import Outbox
from tickets.models import Message, SLATimer, Status, Target, Ticket, TimerKind
from tickets.services import escalation
from tickets.services import tickets as svc
from tickets.tests.conftest import at


def test_open_routes_assigns_and_stores_due_times(open_ticket, queue_setup):
    queue, _supervisor, agents = queue_setup
    ticket = open_ticket()
    assert re.fullmatch(r"WD-2026-\d{6}", ticket.reference)
    assert ticket.queue == queue
    assert ticket.assignee in agents
    assert ticket.status == Status.NEW
    # Premium P3: first response within 4 business hours from Monday 09:00 -> 14:00
    # (lunch 12:00-13:00 does not count).
    assert ticket.first_response_due == at(2026, 3, 2, 14, 0)
    # Resolution 5 business days of 8 hours: the following Monday 09:00.
    assert ticket.resolution_due == at(2026, 3, 9, 9, 0)
    kinds = set(SLATimer.objects.filter(ticket=ticket).values_list("target", "kind", "percent"))
    assert ("resolution", TimerKind.WARNING, 75) in kinds
    assert ("resolution", TimerKind.BREACH, 100) in kinds
    assert ("first_response", TimerKind.RULE, 100) in kinds
    event = AuditEvent.objects.filter(action="ticket.opened", target_id=str(ticket.pk)).get()
    assert event.data["reference"] == ticket.reference
    assert Outbox.objects.filter(key=f"ticket-opened:{ticket.pk}:email").exists()
    assert Message.objects.get(ticket=ticket).body.startswith("Since this morning")


def test_references_count_up_per_year(open_ticket, make_customer):
    customer = make_customer()
    a = open_ticket(customer)
    b = open_ticket(customer)
    assert int(b.reference[-6:]) == int(a.reference[-6:]) + 1
    c = open_ticket(customer, now=at(2027, 1, 4, 9, 0))
    assert c.reference == "WD-2027-000001"


def test_message_body_is_encrypted_at_rest(open_ticket):
    ticket = open_ticket(body="Porosity on seam 7, gas flow 15 L/min")
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM tickets_message WHERE ticket_id = %s", [ticket.pk])
        (raw,) = cursor.fetchone()
    assert "Porosity" not in raw


def test_bad_input_is_refused_with_field_errors(open_ticket, make_customer, make_unit):
    customer = make_customer()
    with pytest.raises(ApplicationError) as exc:
        open_ticket(customer, subject="x")
    assert "subject" in exc.value.fields
    other = make_customer()
    with pytest.raises(ApplicationError) as exc:
        open_ticket(customer, unit=make_unit(other.organisation))
    assert "unit" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        open_ticket(customer, fault_report={"laser_power_w": -5})
    assert "fault_report.laser_power_w" in exc.value.fields
    assert not Ticket.objects.filter(organisation=customer.organisation).exists()


def test_fault_report_is_stored(open_ticket):
    ticket = open_ticket(
        fault_report={
            "laser_power_w": 1500,
            "pulse_frequency_hz": "5000",
            "pulse_width_ms": "0.5",
            "shielding_gas": "argon",
            "gas_flow_l_min": "15",
            "material": "stainless",
            "thickness_mm": "2",
            "seam_speed_mm_s": "20",
        }
    )
    assert ticket.fault_report.laser_power_w == 1500
    assert ticket.fault_report.material == "stainless"


def test_illegal_transition_is_refused(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    svc.ticket_transition(ticket=ticket, status=Status.CLOSED, actor=agent)
    with pytest.raises(ApplicationError, match="cannot go from Closed to Open") as exc:
        svc.ticket_transition(ticket=ticket, status=Status.OPEN, actor=agent)
    assert exc.value.status_code == 409


def test_customer_cannot_set_arbitrary_status(open_ticket):
    ticket = open_ticket()
    with pytest.raises(Forbidden):
        svc.ticket_transition(ticket=ticket, status=Status.ON_HOLD, actor=ticket.requester)


def test_customer_reply_within_seven_days_reopens(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    svc.ticket_reply(ticket=ticket, author=agent, body="Clean the lens.", now=at(2026, 3, 2, 10))
    svc.ticket_transition(
        ticket=ticket, status=Status.RESOLVED, actor=agent, now=at(2026, 3, 2, 11)
    )
    svc.ticket_reply(
        ticket=ticket, author=ticket.requester, body="Still pores.", now=at(2026, 3, 8, 11)
    )
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.resolved_at is None
    svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent, now=at(2026, 3, 9, 9))
    with pytest.raises(ApplicationError, match="more than 7 days ago"):
        svc.ticket_reply(
            ticket=ticket, author=ticket.requester, body="Again.", now=at(2026, 3, 17, 9)
        )


def test_pause_resumes_with_the_time_that_remained(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()  # resolution due Mon 9 Mar 09:00, 40 business hours
    # Tuesday 3 Mar 09:00: 8 business hours used, 32 left. Wait on the customer for a week.
    svc.ticket_transition(ticket=ticket, status=Status.WAITING, actor=agent, now=at(2026, 3, 3, 9))
    ticket.refresh_from_db()
    assert ticket.sla_remaining["resolution"] == 32 * 3600
    assert not SLATimer.objects.filter(ticket=ticket).exists()
    # The customer answers on Tuesday 10 Mar at 09:00: 32 business hours from then.
    svc.ticket_reply(ticket=ticket, author=ticket.requester, body="Done.", now=at(2026, 3, 10, 9))
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.resolution_due == at(2026, 3, 16, 9, 0)
    assert ticket.sla_paused_at is None
    assert SLATimer.objects.filter(ticket=ticket).exists()


def timers_of(ticket, target) -> dict[tuple[str, int], object]:
    return {
        (t.kind, t.percent): t.fire_at
        for t in SLATimer.objects.filter(ticket=ticket, target=target)
    }


def test_a_fired_threshold_never_fires_twice_after_a_pause(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    warning_at = timers_of(ticket, Target.RESOLUTION)[(TimerKind.WARNING, 75)]
    escalation.sla_scan(now=warning_at)
    ticket.refresh_from_db()
    # The scan deleted the fired timers and raised the mark of the highest one fired.
    assert ticket.resolution_fired == 75
    assert (TimerKind.WARNING, 75) not in timers_of(ticket, Target.RESOLUTION)
    # Waiting on the customer, then their answer: the clock is rebuilt without the warning.
    svc.ticket_transition(ticket=ticket, status=Status.WAITING, actor=agent, now=warning_at)
    later = warning_at + dt.timedelta(days=3)
    svc.ticket_reply(ticket=ticket, author=ticket.requester, body="Done.", now=later)
    rebuilt = timers_of(ticket, Target.RESOLUTION)
    assert rebuilt and all(percent > 75 for _kind, percent in rebuilt)
    assert (TimerKind.BREACH, 100) in rebuilt
    before = AuditEvent.objects.filter(action="ticket.sla_warning", target_id=str(ticket.pk))
    warned = before.count()
    escalation.sla_scan(now=later + dt.timedelta(days=30))
    ticket.refresh_from_db()
    assert before.count() == warned  # no second warning
    assert ticket.sla_breached and ticket.resolution_fired >= 100


def test_each_next_reply_cycle_fires_its_own_breach(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    svc.ticket_reply(ticket=ticket, author=agent, body="On it.", now=at(2026, 3, 2, 10))
    breaches = AuditEvent.objects.filter(
        action="ticket.sla_breached", target_id=str(ticket.pk), data__target="next_reply"
    )
    now = at(2026, 3, 2, 11)
    for cycle in (1, 2):
        svc.ticket_reply(ticket=ticket, author=ticket.requester, body="Still pores.", now=now)
        ticket.refresh_from_db()
        assert ticket.next_reply_fired == 0
        breach_at = timers_of(ticket, Target.NEXT_REPLY)[(TimerKind.BREACH, 100)]
        escalation.sla_scan(now=breach_at)
        ticket.refresh_from_db()
        assert ticket.next_reply_fired >= 100
        assert breaches.count() == cycle
        now = breach_at + dt.timedelta(hours=1)
        svc.ticket_reply(ticket=ticket, author=agent, body="Try this.", now=now)
        now += dt.timedelta(minutes=5)


def test_priority_change_recomputes_keeping_time_used(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    # One business hour used; premium P2 resolution is 16 business hours, so 15 are left
    # from Monday 10:00: 6.5 on Monday, 8 on Tuesday, 0.5 on Wednesday -> Wednesday 09:00.
    svc.ticket_set_priority(ticket=ticket, priority=2, actor=agent, now=at(2026, 3, 2, 10))
    ticket.refresh_from_db()
    assert ticket.priority == 2
    assert ticket.resolution_due == at(2026, 3, 4, 9, 0)
    assert AuditEvent.objects.filter(action="ticket.priority_changed").count() == 1


def test_first_response_met_is_recorded(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    svc.ticket_reply(ticket=ticket, author=agent, body="On it.", now=at(2026, 3, 2, 11))
    ticket.refresh_from_db()
    assert ticket.first_response_met is True
    assert ticket.status == Status.OPEN
    assert not SLATimer.objects.filter(ticket=ticket, target="first_response").exists()
    # The customer writes again: a next-reply target starts.
    svc.ticket_reply(ticket=ticket, author=ticket.requester, body="Thanks", now=at(2026, 3, 2, 15))
    ticket.refresh_from_db()
    # 8 business hours: 2.5 on Monday, then 08:30-12:00 and 13:00-15:00 on Tuesday.
    assert ticket.next_reply_due == at(2026, 3, 3, 15, 0)


def test_internal_note_is_staff_only(open_ticket):
    ticket = open_ticket()
    with pytest.raises(Forbidden):
        svc.ticket_reply(ticket=ticket, author=ticket.requester, body="x", internal=True)


def test_stale_version_gets_conflict(open_ticket, queue_setup):
    agents = queue_setup[2]
    ticket = open_ticket()
    version = ticket.version
    svc.ticket_assign(ticket=ticket, agent=agents[1], actor=agents[0], expected_version=version)
    with pytest.raises(Conflict) as exc:
        svc.ticket_assign(ticket=ticket, agent=agents[2], actor=agents[0], expected_version=version)
    assert exc.value.status_code == 409
    ticket.refresh_from_db()
    assert ticket.assignee == agents[1]


def test_round_robin_prefers_fewest_open_tickets(open_ticket, make_customer, queue_setup):
    agents = queue_setup[2]
    customer = make_customer()
    first = [open_ticket(customer).assignee_id for _ in range(3)]
    assert sorted(first) == sorted(a.pk for a in agents)  # one each
    # Resolve the tickets of agents[1]: it now has the fewest open tickets.
    for t in Ticket.objects.filter(assignee=agents[1]):
        svc.ticket_transition(ticket=t, status=Status.RESOLVED, actor=agents[1])
    assert open_ticket(customer).assignee_id == agents[1].pk


def test_merge_moves_messages_and_closes_duplicates(open_ticket, make_customer, queue_setup):
    agent = queue_setup[2][0]
    customer = make_customer()
    a, b = open_ticket(customer), open_ticket(customer, subject="Same porosity again")
    svc.ticket_merge(duplicates=[b], into=a, actor=agent)
    b.refresh_from_db()
    assert b.status == Status.CLOSED and b.merged_into == a
    assert a.messages.count() == 3  # two customer messages + the merge note
    other = open_ticket(make_customer())
    with pytest.raises(ApplicationError, match="different organisations"):
        svc.ticket_merge(duplicates=[other], into=a, actor=agent)


@pytest.mark.parametrize(
    "module, name",
    [
        ("notify", "notify_opened"),  # while the rows are composed
        ("live", "ticket_changed"),  # after every row is written
    ],
)
def test_exception_after_save_rolls_everything_back(
    open_ticket, make_customer, make_unit, monkeypatch, module, name
):
    customer = make_customer()
    unit = make_unit(customer.organisation)
    from tickets import services

    def boom(*args, **kwargs):
        raise RuntimeError("mail template broke")

    monkeypatch.setattr(getattr(services, module), name, boom)
    before = (Ticket.objects.count(), Outbox.objects.count(), AuditEvent.objects.count())
    with pytest.raises(RuntimeError):
        open_ticket(customer, unit=unit)
    after = (Ticket.objects.count(), Outbox.objects.count(), AuditEvent.objects.count())
    assert before == after


def test_resolution_sends_one_click_survey(
    open_ticket, queue_setup, django_capture_on_commit_callbacks
):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    with django_capture_on_commit_callbacks(execute=True):
        svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent)
    status_mail = [m for m in mail.outbox if "Status" in m.subject]
    assert status_mail and "/tickets/survey/" in status_mail[-1].body


def test_open_ticket_query_budget(open_ticket, make_customer):
    customer = make_customer()
    open_ticket(customer)
    with CaptureQueriesContext(connection) as ctx:
        open_ticket(customer)
    # Fixed cost, whatever the data: reference, policy, routing, assignment, inserts, audit,
    # two outbox rows.
    assert len(ctx.captured_queries) <= 40, len(ctx.captured_queries)


def test_audit_chain_verifies_after_ticket_work(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    svc.ticket_reply(ticket=ticket, author=agent, body="Check the nozzle.")
    svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent)
    assert chain_verify().ok


def test_auto_close_after_reopen_window(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()
    svc.ticket_transition(
        ticket=ticket, status=Status.RESOLVED, actor=agent, now=at(2026, 3, 2, 11)
    )
    assert svc.tickets_close_resolved(now=at(2026, 3, 8, 11)) == 0
    assert svc.tickets_close_resolved(now=at(2026, 3, 9, 12)) == 1
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED
    assert dt.timedelta(0) < ticket.closed_at - ticket.resolved_at


def _loads(agents):
    from tickets.models import AgentLoad

    stored = dict(AgentLoad.objects.values_list("agent_id", "open_tickets"))
    return [stored.get(a.pk, 0) for a in agents]


def _counted(agents):
    from tickets.models import ACTIVE_STATUSES

    return [Ticket.objects.filter(assignee=a, status__in=ACTIVE_STATUSES).count() for a in agents]


def test_agent_loads_follow_every_change_of_assignee_and_status(
    open_ticket, make_customer, queue_setup
):
    _queue, supervisor, agents = queue_setup
    customer = make_customer()
    a, b, c = (open_ticket(customer) for _ in range(3))
    assert _loads(agents) == _counted(agents) == [1, 1, 1]
    svc.ticket_assign(ticket=a, agent=agents[2], actor=supervisor)  # move one
    assert _loads(agents) == _counted(agents)
    svc.ticket_transition(ticket=b, status=Status.WAITING, actor=supervisor)  # still active
    svc.ticket_transition(ticket=b, status=Status.RESOLVED, actor=supervisor)  # leaves
    assert _loads(agents) == _counted(agents)
    svc.ticket_reply(ticket=b, author=customer, body="It came back.")  # reopens: returns
    assert _loads(agents) == _counted(agents)
    svc.ticket_merge(duplicates=[c], into=b, actor=supervisor)  # the duplicate closes
    svc.ticket_transition(ticket=a, status=Status.CLOSED, actor=supervisor)
    assert _loads(agents) == _counted(agents)
    with pytest.raises(ApplicationError):
        svc.ticket_assign(ticket=a, agent=agents[0], actor=supervisor)  # closed: refused
    assert _loads(agents) == _counted(agents)


def test_assignment_reads_the_counts_and_a_rebuild_heals_drift(
    open_ticket, make_customer, queue_setup
):
    from tickets.models import AgentLoad
    from tickets.services.assignment import agent_loads_rebuild

    agents = queue_setup[2]
    customer = make_customer()
    for _ in range(3):
        open_ticket(customer)
    # Simulate drift (say, a bulk change outside the services): the counts lie.
    AgentLoad.objects.filter(agent=agents[0]).update(open_tickets=50)
    AgentLoad.objects.filter(agent=agents[1]).update(open_tickets=-3)
    assert open_ticket(customer).assignee_id == agents[1].pk  # the counts are what is read
    assert agent_loads_rebuild() == 2
    assert _loads(agents) == _counted(agents)
    assert agent_loads_rebuild() == 0


def test_assignment_gives_a_ticket_only_to_an_agent_who_may_see_the_customers_region(
    open_ticket, queue_setup, make_staff
):
    """A South China agent in the queue, idle, is passed over for an East China customer's
    ticket (they would get a 404 for it), by the automatic choice and by hand alike."""
    from accounts.models import Region
    from tickets.models import QueueMember

    queue, supervisor, agents = queue_setup
    south = make_staff(email="south@welddesk.example", regions=[Region.objects.get(code="south")])
    QueueMember.objects.filter(queue=queue).update(is_active=False)
    QueueMember.objects.create(queue=queue, agent=south)
    ticket = open_ticket()
    assert ticket.assignee is None  # the only member works for South China
    with pytest.raises(ApplicationError, match="no active agent"):
        svc.ticket_assign_automatically(ticket=ticket, actor=supervisor)
    with pytest.raises(ApplicationError, match="region"):
        svc.ticket_assign(ticket=ticket, agent=south, actor=supervisor)
    QueueMember.objects.filter(queue=queue, agent=agents[0]).update(is_active=True)
    assert svc.ticket_assign_automatically(ticket=ticket, actor=supervisor).assignee == agents[0]
    # A supervisor sees every region and may be given it.
    assert svc.ticket_assign(ticket=ticket, agent=supervisor, actor=supervisor).assignee == (
        supervisor
    )
