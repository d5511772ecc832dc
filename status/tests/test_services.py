"""Incidents through their lifecycle, and the component statuses and history that follow."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from core.errors import ApplicationError
from status import services
from status.models import (
    Component,
    ComponentStatus,
    ComponentStatusChange,
    Incident,
    IncidentState,
)

pytestmark = pytest.mark.django_db

OPEN = {
    "title_en": "Hotline East unreachable",
    "title_zh": "华东热线无法接通",
    "body_en": "We are investigating; please use the chat.",
    "body_zh": "我们正在调查，请使用在线客服。",
    "cause_en": "Carrier trunk failure",
    "cause_zh": "运营商中继故障",
}


def status_of(component) -> str:
    return Component.objects.get(pk=component.pk).status


def test_the_severity_grades_and_their_playbooks_are_reference_data(sev):
    assert list(sev) == ["sev1", "sev2", "sev3", "sev4"]
    assert [s.requires_postmortem for s in sev.values()] == [True, True, False, False]
    assert sev["sev1"].steps.count() == 7 and sev["sev1"].update_every_minutes == 15


def test_opening_copies_the_playbook_and_takes_the_components_down(components, sev, make_staff):
    supervisor = make_staff()
    incident = services.incident_open(
        actor=supervisor,
        severity=sev["sev2"],
        components={components["east"]: ComponentStatus.MAJOR_OUTAGE},
        **OPEN,
    )
    assert incident.is_published and incident.state == IncidentState.INVESTIGATING
    assert [t.text for t in incident.tasks.all()] == [s.text for s in sev["sev2"].steps.all()]
    assert incident.updates.get().body_zh == OPEN["body_zh"]
    assert status_of(components["east"]) == ComponentStatus.MAJOR_OUTAGE
    assert status_of(components["south"]) == ComponentStatus.OPERATIONAL
    change = ComponentStatusChange.objects.get(component=components["east"])
    assert (change.from_status, change.to_status) == ("operational", "major_outage")
    assert change.changed_by == f"user:{supervisor.pk}" and change.incident == incident
    assert "opened" in change.reason
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "status.incident_opened",
        "status.component_changed",
    }


def test_the_worst_impact_wins_and_resolving_restores_only_what_is_clear(components, sev):
    east, chat = components["east"], components["chat"]
    first = services.incident_open(
        actor="system:alertmanager",
        severity=sev["sev3"],
        components=[(east, ComponentStatus.DEGRADED), (chat, ComponentStatus.DEGRADED)],
        **OPEN,
    )
    second = services.incident_open(
        actor="system:alertmanager",
        severity=sev["sev2"],
        components={east: ComponentStatus.MAJOR_OUTAGE},
        **OPEN,
    )
    assert status_of(east) == "major_outage" and status_of(chat) == "degraded"
    services.incident_update(
        incident=second,
        actor="system:alertmanager",
        state="resolved",
        body_en="Back",
        body_zh="已恢复",
    )
    assert status_of(east) == "degraded"  # the first incident still touches it
    services.incident_update(
        incident=first,
        actor="system:alertmanager",
        state="resolved",
        body_en="Back",
        body_zh="已恢复",
    )
    assert status_of(east) == status_of(chat) == "operational"
    history = list(
        ComponentStatusChange.objects.filter(component=east).values_list("to_status", flat=True)
    )
    assert history == ["degraded", "major_outage", "degraded", "operational"]
    assert ComponentStatusChange.objects.filter(changed_by="system:alertmanager").count() == 6


def test_a_draft_changes_nothing_public_until_it_is_published(components, sev, make_staff):
    draft = services.incident_open(
        actor="system:alertmanager",
        severity=sev["sev2"],
        components={components["south"]: ComponentStatus.PARTIAL_OUTAGE},
        publish=False,
        **OPEN,
    )
    assert not draft.is_published and status_of(components["south"]) == "operational"
    services.incident_publish(incident=draft, actor=make_staff())
    assert status_of(components["south"]) == "partial_outage"


def test_the_lifecycle_only_moves_forward_and_ends_at_resolved(components, sev):
    incident = services.incident_open(
        actor="system",
        severity=sev["sev3"],
        components={components["chat"]: "degraded"},
        **OPEN,
    )
    services.incident_update(
        incident=incident,
        actor="system",
        state="monitoring",
        body_en="Fix out",
        body_zh="已修复",
        expected_recovery=None,
    )
    with pytest.raises(ApplicationError) as backwards:
        services.incident_update(
            incident=incident, actor="system", state="identified", body_en="x", body_zh="x"
        )
    assert backwards.value.code == "backwards"
    with pytest.raises(ApplicationError):
        services.incident_update(
            incident=incident, actor="system", state="nonsense", body_en="x", body_zh="x"
        )
    services.incident_update(
        incident=incident, actor="system", state="resolved", body_en="Done", body_zh="完成"
    )
    with pytest.raises(ApplicationError) as over:
        services.incident_update(
            incident=incident, actor="system", state="resolved", body_en="x", body_zh="x"
        )
    assert over.value.code == "resolved"
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert [u.state for u in incident.updates.order_by("at", "pk")] == [
        "investigating",
        "monitoring",
        "resolved",
    ]


def test_sev1_and_sev2_need_a_postmortem_before_they_close(components, sev, make_staff):
    supervisor = make_staff()
    for key, needs in (("sev1", True), ("sev3", False)):
        incident = services.incident_open(
            actor=supervisor,
            severity=sev[key],
            components={components["east"]: "major_outage"},
            **OPEN,
        )
        with pytest.raises(ApplicationError) as early:
            services.incident_close(incident=incident, actor=supervisor)
        assert early.value.code == "not_resolved"
        services.incident_update(
            incident=incident, actor=supervisor, state="resolved", body_en="ok", body_zh="好"
        )
        if needs:
            with pytest.raises(ApplicationError) as refused:
                services.incident_close(incident=incident, actor=supervisor)
            assert refused.value.code == "postmortem_required"
            services.incident_postmortem(
                incident=incident, actor=supervisor, text="Trunk card failed; spare now on site."
            )
        closed = services.incident_close(incident=incident, actor=supervisor)
        assert closed.closed_at is not None


def test_tasks_are_ticked_and_notes_stay_internal(components, sev, make_staff):
    agent = make_staff()
    incident = services.incident_open(
        actor=agent, severity=sev["sev2"], components={components["east"]: "major_outage"}, **OPEN
    )
    task = incident.tasks.first()
    services.incident_task_set(task=task, actor=agent, done=True)
    task.refresh_from_db()
    assert task.done_by == agent and task.done_at is not None
    services.incident_task_set(task=task, actor=agent, done=False)
    task.refresh_from_db()
    assert task.done_at is None
    services.incident_note_add(incident=incident, actor=agent, body="Carrier ticket 4711")
    assert incident.notes.get().body == "Carrier ticket 4711"
    actions = list(
        AuditEvent.objects.filter(target_id=str(incident.pk)).values_list("action", flat=True)
    )
    assert {"status.task_done", "status.task_reopened", "status.note_added"} <= set(actions)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title_en": "  "}, "title_en"),
        ({"title_zh": "x" * 201}, "title_zh"),
        ({"body_zh": ""}, "body_zh"),
        ({"components": {}}, "components"),
        ({"components": {"not a component": "major_outage"}}, "components"),
        ({"components": "operational"}, "components"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_nothing_is_written(components, sev, change, field):
    arguments = {
        "actor": "system",
        "severity": sev["sev2"],
        "components": {components["east"]: "major_outage"},
        **OPEN,
        **change,
    }
    if change.get("components") == "operational":
        arguments["components"] = {components["east"]: "operational"}
    with pytest.raises(ApplicationError) as refused:
        services.incident_open(**arguments)
    assert field in refused.value.fields
    assert not Incident.objects.exists() and not ComponentStatusChange.objects.exists()
    assert status_of(components["east"]) == "operational"


def test_an_update_recorded_after_the_fact_takes_its_time_between_start_and_now(components, sev):
    import datetime as dt

    from django.utils import timezone

    start = timezone.now() - dt.timedelta(hours=3)
    incident = services.incident_open(
        actor="system:test",
        severity=sev["sev2"],
        components={components["east"]: "major_outage"},
        started_at=start,
        **OPEN,
    )
    for wrong in (start - dt.timedelta(minutes=1), timezone.now() + dt.timedelta(minutes=5)):
        with pytest.raises(ApplicationError) as caught:
            services.incident_update(
                incident=incident, actor="x", state="resolved", body_en="b", body_zh="b", at=wrong
            )
        assert caught.value.code == "bad_time"
    end = start + dt.timedelta(hours=2)
    services.incident_update(
        incident=incident, actor="x", state="resolved", body_en="b", body_zh="b", at=end
    )
    incident.refresh_from_db()
    assert incident.resolved_at == end and incident.updates.get(state="resolved").at == end
