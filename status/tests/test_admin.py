"""The incident desk in the admin: supervisors declare and close, agents work the playbook."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from status import services
from status.models import Component, Incident, IncidentState
from testsupport import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_staff):
    return {"supervisor": make_staff(roles=("supervisor",)), "agent": make_staff()}


def declare(client, parts, sev, **change):
    data = {
        "severity": sev["sev2"].pk,
        "title_en": "Hotline East down",
        "title_zh": "华东热线中断",
        "components": [parts["east"].pk],
        "impact": "major_outage",
        "body_en": "Investigating.",
        "body_zh": "正在调查。",
        "publish": "on",
        **change,
    }
    return client.post(reverse("admin:status_incident_add"), data)


def test_a_supervisor_declares_and_an_agent_works_the_playbook(client, people, components, sev):
    sign_in(client, people["supervisor"])
    assert client.get(reverse("admin:status_incident_add")).status_code == 200
    response = declare(client, components, sev)
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:status_incident_change", args=[incident.pk])
    assert Component.objects.get(pk=components["east"].pk).status == "major_outage"

    sign_in(client, people["agent"])
    url = reverse("admin:status_incident_change", args=[incident.pk])
    page = client.get(url).content.decode()
    assert "Route the region&#x27;s calls" in page  # the SEV2 playbook is listed
    task = incident.tasks.first()
    client.post(url, {"operation": "task", "task": task.pk, "done": "1"})
    task.refresh_from_db()
    assert task.done_by == people["agent"]
    client.post(url, {"operation": "note", "body": "Carrier ticket 4711"})
    assert incident.notes.get().body == "Carrier ticket 4711"
    client.post(
        url,
        {
            "operation": "update",
            "state": "identified",
            "body_en": "Trunk card",
            "body_zh": "中继板",
        },
    )
    incident.refresh_from_db()
    assert incident.state == IncidentState.IDENTIFIED
    # Closing is a supervisor's: refused with a message, nothing changes.
    refused = client.post(url, {"operation": "close"}, follow=True)
    assert "Only a supervisor can do this." in refused.content.decode()
    assert client.get(reverse("admin:status_incident_add")).status_code in (403, 404)


def test_bad_input_on_the_desk_gives_messages_not_errors(client, people, components, sev):
    sign_in(client, people["supervisor"])
    missing = declare(client, components, sev, title_zh="", components=[])
    assert missing.status_code == 400 and not Incident.objects.exists()
    incident = services.incident_open(
        actor=people["supervisor"],
        severity=sev["sev1"],
        title_en="All lines down",
        title_zh="全部线路中断",
        components={components["east"]: "major_outage"},
        body_en="Investigating.",
        body_zh="正在调查。",
    )
    url = reverse("admin:status_incident_change", args=[incident.pk])
    client.post(url, {"operation": "update", "state": "monitoring", "body_en": "a", "body_zh": "b"})
    backwards = client.post(
        url, {"operation": "update", "state": "investigating", "body_en": "a", "body_zh": "b"}
    )
    assert backwards.status_code == 400
    assert "Choose this state or a later one." in backwards.content.decode()
    client.post(url, {"operation": "update", "state": "resolved", "body_en": "ok", "body_zh": "好"})
    closing = client.post(url, {"operation": "close"}, follow=True)
    assert "needs a postmortem" in closing.content.decode()
    client.post(url, {"operation": "postmortem", "postmortem": "Spare trunk card on site now."})
    client.post(url, {"operation": "close"})
    incident.refresh_from_db()
    assert incident.closed_at is not None
    assert client.post(url, {"operation": "task", "task": 999999}).status_code == 302


def test_customers_never_reach_the_desk(client, make_customer, components, sev):
    sign_in(client, make_customer())
    assert client.get(reverse("admin:status_incident_changelist")).status_code == 302


def test_the_desk_keeps_its_query_budget(client, people, components, sev):
    sign_in(client, people["supervisor"])
    incident = services.incident_open(
        actor=people["supervisor"],
        severity=sev["sev4"],
        title_en="Slow portal",
        title_zh="门户缓慢",
        components={components["chat"]: "degraded"},
        body_en="Looking.",
        body_zh="查看中。",
    )
    url = reverse("admin:status_incident_change", args=[incident.pk])
    client.get(url)  # warm the per-process caches (content types, permissions)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for n in range(10):
        services.incident_note_add(incident=incident, actor=people["supervisor"], body=f"n{n}")
        services.incident_update(
            incident=incident,
            actor=people["supervisor"],
            state="investigating",
            body_en=f"u{n}",
            body_zh=f"更新{n}",
        )
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"][:90] for q in few.captured_queries]
