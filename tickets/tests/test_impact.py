"""A fault report's impact sets the opening priority by the priority rules kept as data."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from notifications.models import Outbox
from tickets.models import PriorityRule, Production
from tickets.services import impact
from tickets.services import tickets as svc

pytestmark = pytest.mark.django_db


def opened_with(open_ticket, **report):
    return open_ticket(fault_report=report)


def safety_notices(ticket) -> list[Outbox]:
    return list(Outbox.objects.filter(key__startswith=f"ticket-safety:{ticket.pk}:"))


@pytest.mark.parametrize(
    ("production", "priority"),
    [(Production.STOPPED, 1), (Production.DEGRADED, 2), (Production.UNAFFECTED, 3)],
)
def test_each_default_rule_sets_the_priority_of_its_production_answer(
    open_ticket, production, priority
):
    ticket = opened_with(open_ticket, production=production, machines_affected=1, safety_risk=False)
    assert ticket.priority == priority
    assert ticket.fault_report.production == production
    assert ticket.fault_report.priority_rule.production == production
    assert safety_notices(ticket) == []


def test_a_safety_risk_is_always_p1_and_the_supervisors_are_told(
    open_ticket, queue_setup, make_staff
):
    _queue, lead, _agents = queue_setup
    from accounts.models import Region

    regional = make_staff(roles=("supervisor",), email="east.lead@welddesk.example")
    south = make_staff(
        roles=("supervisor",),
        email="south.lead@welddesk.example",
        regions=[Region.objects.get(code="south")],
    )
    ticket = opened_with(
        open_ticket, production=Production.UNAFFECTED, machines_affected=1, safety_risk=True
    )
    assert ticket.priority == 1
    assert ticket.fault_report.safety_risk is True
    told = {row.recipient for row in safety_notices(ticket)}
    assert told == {lead.email, regional.email}  # the queue's and the region's, not South's
    assert south.email not in told
    notice = safety_notices(ticket)[0]
    assert ticket.reference in notice.subject and "Safety risk" in notice.subject
    assert f"/admin/tickets/ticket/{ticket.pk}/" in notice.body
    opened = AuditEvent.objects.get(action="ticket.opened", target_id=str(ticket.pk))
    assert opened.data["impact"]["safety_risk"] is True
    assert opened.data["supervisor_notified"] is True


def test_the_supervisor_notice_is_in_the_supervisors_language(open_ticket, queue_setup):
    _queue, lead, _agents = queue_setup
    lead.language = "zh-hans"
    lead.save(update_fields=["language"])
    ticket = opened_with(open_ticket, production=Production.STOPPED, safety_risk=True)
    (notice,) = safety_notices(ticket)
    assert "安全" in notice.subject or notice.subject.startswith(f"[{ticket.reference}]")
    assert notice.language == "zh-hans"


def test_a_report_without_impact_keeps_the_requested_priority(open_ticket):
    ticket = open_ticket(fault_report={"laser_power_w": 1500})
    assert ticket.priority == 3
    assert ticket.fault_report.production == "" and ticket.fault_report.priority_rule is None
    opened = AuditEvent.objects.get(action="ticket.opened", target_id=str(ticket.pk))
    assert "impact" not in opened.data


def test_a_rule_never_lowers_a_priority_the_caller_asked_for(open_ticket):
    ticket = open_ticket(priority=2, fault_report={"production": Production.UNAFFECTED})
    assert ticket.priority == 2


def test_the_rules_are_data_a_changed_or_new_rule_decides_the_next_report(open_ticket, make_staff):
    supervisor = make_staff(roles=("supervisor",))
    degraded = PriorityRule.objects.get(production=Production.DEGRADED)
    degraded.priority = 1
    impact.priority_rule_save(rule=degraded, actor=supervisor, changed=["priority"])
    many = PriorityRule(
        position=5, name="Half the plant", min_machines=10, priority=1, notify_supervisor=True
    )
    impact.priority_rule_save(rule=many, actor=supervisor, changed=["min_machines", "priority"])
    assert opened_with(open_ticket, production=Production.DEGRADED).priority == 1
    plant = opened_with(open_ticket, production=Production.UNAFFECTED, machines_affected=12)
    assert plant.priority == 1 and plant.fault_report.priority_rule == many
    assert safety_notices(plant)
    assert opened_with(open_ticket, production=Production.UNAFFECTED).priority == 3
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"tickets.priority_rule_changed", "tickets.priority_rule_created"} <= actions


def test_an_inactive_rule_is_skipped(open_ticket):
    PriorityRule.objects.filter(production=Production.STOPPED).update(is_active=False)
    assert opened_with(open_ticket, production=Production.STOPPED).priority == 3


@pytest.mark.parametrize(
    ("report", "field"),
    [
        ({"production": "exploded"}, "fault_report.production"),
        ({"machines_affected": 0}, "fault_report.machines_affected"),
        ({"machines_affected": 5000}, "fault_report.machines_affected"),
    ],
)
def test_a_bad_impact_answer_is_refused_before_anything_is_written(open_ticket, report, field):
    from core.errors import ApplicationError
    from tickets.models import Ticket

    with pytest.raises(ApplicationError) as caught:
        open_ticket(fault_report=report)
    assert field in caught.value.fields
    assert not Ticket.objects.exists()


def test_an_agent_changes_a_rule_priced_ticket_and_the_change_is_audited(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = opened_with(open_ticket, production=Production.STOPPED)
    assert ticket.priority == 1
    svc.ticket_set_priority(ticket=ticket, priority=2, actor=agent)
    ticket.refresh_from_db()
    assert ticket.priority == 2
    changed = AuditEvent.objects.get(action="ticket.priority_changed", target_id=str(ticket.pk))
    assert changed.data["from"] == 1 and changed.data["values"] == {"priority": 2}


def test_in_the_admin_an_agent_lowers_a_rule_priced_priority_audited(open_ticket, staff_client):
    client, agent = staff_client(roles=("agent",))
    ticket = opened_with(open_ticket, production=Production.STOPPED, safety_risk=False)
    page = client.get(f"/admin/tickets/ticket/{ticket.pk}/change/").content.decode()
    assert "Production stopped" in page and "Machines affected" not in page  # not given
    assert "Safety risk" in page  # answered "no"
    response = client.post(
        f"/admin/tickets/ticket/{ticket.pk}/change/",
        {"operation": "priority", "version": ticket.version, "priority": "3"},
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.priority == 3
    changed = AuditEvent.objects.get(action="ticket.priority_changed", target_id=str(ticket.pk))
    assert changed.actor_ref == f"user:{agent.pk}" and changed.data["from"] == 1


def test_a_supervisor_edits_the_rules_in_the_admin_audited_and_an_agent_may_not(
    sla_setup, staff_client, client
):
    from accounts.roles import ensure_roles

    ensure_roles()
    rule = PriorityRule.objects.get(production=Production.DEGRADED)
    url = f"/admin/tickets/priorityrule/{rule.pk}/change/"
    agent_client, _agent = staff_client(roles=("agent",))
    assert agent_client.get("/admin/tickets/priorityrule/").status_code == 403
    client.logout()
    supervisor_client, supervisor = staff_client(roles=("supervisor",))
    listing = supervisor_client.get("/admin/tickets/priorityrule/")
    assert listing.status_code == 200 and "Production stopped" in listing.content.decode()
    response = supervisor_client.post(
        url,
        {
            "position": 30,
            "name": rule.name,
            "name_zh": rule.name_zh,
            "production": "degraded",
            "safety_risk": "unknown",
            "min_machines": "",
            "priority": "1",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule.refresh_from_db()
    assert rule.priority == 1
    event = AuditEvent.objects.get(action="tickets.priority_rule_changed")
    assert event.actor_ref == f"user:{supervisor.pk}" and event.data["values"] == {"priority": 1}
