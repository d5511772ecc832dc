"""An incident told the way it happened: its start, its updates and its resolution dated back
to when they really happened (bounded, with a reason, audited), shown on the public page and
counted by the uptime bars."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import ApplicationError
from status import selectors, services
from status.models import Component, ComponentStatusChange, Incident
from testsupport import sign_in

pytestmark = pytest.mark.django_db

OPEN = {
    "title_en": "Hotline East unreachable",
    "title_zh": "华东热线无法接通",
    "body_en": "We are investigating; please use the chat.",
    "body_zh": "我们正在调查，请使用在线客服。",
}
FORM_TIME = "%Y-%m-%d %H:%M"


@pytest.fixture
def old_components(components):
    """The components have been on the page for a month."""
    Component.objects.update(created_at=timezone.now() - dt.timedelta(days=30))
    for component in components.values():
        component.refresh_from_db()
    return components


@pytest.fixture
def supervisor(make_staff):
    return make_staff(roles=("supervisor",))


def minutes_ago(n: int) -> dt.datetime:
    return (timezone.now() - dt.timedelta(minutes=n)).replace(second=0, microsecond=0)


def form_time(when: dt.datetime) -> str:
    return timezone.localtime(when).strftime(FORM_TIME)


def outage_seconds(component) -> float:
    days = selectors.uptime(components=[component], now=timezone.now(), days=2)[component.pk]
    return sum(d.seconds.get("major_outage", 0.0) for d in days)


def declared_now(components, sev, actor):
    """An outage declared (and resolved) as it was typed: it lasted no time at all."""
    incident = services.incident_open(
        actor=actor,
        severity=sev["sev2"],
        components={components["east"]: "major_outage"},
        **OPEN,
    )
    services.incident_update(
        incident=incident, actor=actor, state="resolved", body_en="Back.", body_zh="已恢复。"
    )
    incident.refresh_from_db()
    return incident


def test_an_outage_declared_late_starts_when_it_began_on_the_page_and_in_the_uptime(
    client, old_components, sev, supervisor
):
    began = minutes_ago(120)
    sign_in(client, supervisor)
    response = client.post(
        reverse("admin:status_incident_add"),
        {
            "severity": sev["sev2"].pk,
            "components": [old_components["east"].pk],
            "impact": "major_outage",
            "publish": "on",
            "started_at": form_time(began),
            "started_reason": "Noticed late: the carrier told us at 10:00",
            **OPEN,
        },
    )
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert incident.started_at == began and incident.created_at > began + dt.timedelta(hours=1)
    assert incident.updates.get().at == began  # the investigation began with the outage
    # The audit keeps the typed time, the time it happened and why.
    event = AuditEvent.objects.get(action="status.incident_backdated")
    assert event.data["what"] == "start"
    assert dt.datetime.fromisoformat(event.data["to"]) == began
    assert dt.datetime.fromisoformat(event.data["from"]) == incident.created_at
    assert event.data["reason"] == "Noticed late: the carrier told us at 10:00"
    # The uptime history counts the outage from its start: two hours down so far.
    change = ComponentStatusChange.objects.get(incident=incident)
    assert change.at == began
    assert outage_seconds(old_components["east"]) == pytest.approx(7200, abs=120)

    page = client.get(reverse("status:incident", args=[incident.pk])).content.decode()
    assert f'datetime="{timezone.localtime(began).isoformat()}"' in page
    assert "declared" in page
    summary = client.get(reverse("status:summary")).json()["incidents"][0]
    assert dt.datetime.fromisoformat(summary["started_at"]) == began
    assert dt.datetime.fromisoformat(summary["declared_at"]) == incident.created_at
    assert dt.datetime.fromisoformat(summary["updates"][0]["at"]) == began
    assert summary["updates"][0]["posted_at"] != summary["updates"][0]["at"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"started_reason": ""}, "started_reason", "This field is required."),
        ({"started_at": "future"}, "started_at", "This time is in the future"),
        ({"started_at": "before"}, "started_at", "before the component existed"),
    ],
)
def test_a_start_dated_back_badly_is_refused_on_its_field(
    client, old_components, sev, supervisor, change, field, message
):
    when = {
        "future": timezone.now() + dt.timedelta(hours=1),
        "before": timezone.now() - dt.timedelta(days=31),
    }.get(change.get("started_at"), minutes_ago(90))
    sign_in(client, supervisor)
    data = {
        "severity": sev["sev2"].pk,
        "components": [old_components["east"].pk],
        "impact": "major_outage",
        "publish": "on",
        "started_at": form_time(when),
        "started_reason": "Noticed late",
        **OPEN,
    }
    data.update({k: v for k, v in change.items() if k != "started_at"})
    response = client.post(reverse("admin:status_incident_add"), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not Incident.objects.exists()


def test_the_start_and_the_resolution_are_corrected_after_the_fact(old_components, sev, supervisor):
    incident = declared_now(old_components, sev, supervisor)
    assert incident.duration_hours == 0.0
    began, ended = minutes_ago(180), minutes_ago(60)
    services.incident_happened_at(
        incident=incident, actor=supervisor, when=began, reason="Carrier log: trunk down 08:00"
    )
    resolution = incident.updates.get(state="resolved")
    services.incident_happened_at(
        incident=incident, actor=supervisor, update=resolution, when=ended, reason="Carrier log"
    )
    incident.refresh_from_db()
    assert (incident.started_at, incident.resolved_at) == (began, ended)
    assert incident.duration_hours == 2.0
    assert [u.at for u in incident.updates.order_by("at")] == [began, ended]
    assert all(u.posted_late for u in incident.updates.all())
    # The history moved with them: two hours of major outage in the uptime bars.
    assert sorted(ComponentStatusChange.objects.values_list("at", flat=True)) == [began, ended]
    assert outage_seconds(old_components["east"]) == pytest.approx(7200)
    events = AuditEvent.objects.filter(action="status.incident_backdated").order_by("seq")
    assert [(e.data["what"], dt.datetime.fromisoformat(e.data["to"])) for e in events] == [
        ("start", began),
        (f"update:{resolution.pk}", ended),
    ]
    assert events[0].data["reason"] == "Carrier log: trunk down 08:00"


def test_each_bound_of_a_correction_is_refused_with_a_message(old_components, sev, supervisor):
    incident = services.incident_open(
        actor=supervisor,
        severity=sev["sev2"],
        components={old_components["east"]: "major_outage"},
        started_at=minutes_ago(240),
        started_reason="Noticed late",
        **OPEN,
    )
    identified = services.incident_update(
        incident=incident,
        actor=supervisor,
        state="identified",
        body_en="Found it.",
        body_zh="已找到。",
        at=minutes_ago(120),
        reason="Posted late",
    )
    resolved = services.incident_update(
        incident=incident, actor=supervisor, state="resolved", body_en="Back.", body_zh="已恢复。"
    )

    def refused(when, update=None, reason="Checked the logs"):
        with pytest.raises(ApplicationError) as caught:
            services.incident_happened_at(
                incident=incident, actor=supervisor, update=update, when=when, reason=reason
            )
        return caught.value.fields

    future = timezone.now() + dt.timedelta(minutes=10)
    assert "in the future" in refused(future)["when"][0]
    assert "before the component existed" in refused(minutes_ago(60 * 24 * 31))["when"][0]
    assert "comes before every update" in refused(minutes_ago(60))["when"][0]
    assert "before the incident's start" in refused(minutes_ago(300), identified)["when"][0]
    assert "comes before" in refused(timezone.now(), identified)["when"][0]  # after resolved
    assert "comes after" in refused(minutes_ago(180), resolved)["when"][0]  # before identified
    assert refused(minutes_ago(250), reason="  ") == {"reason": ["This field is required."]}
    # An update posted with a time before the latest update is refused too.
    other = services.incident_open(
        actor=supervisor,
        severity=sev["sev3"],
        components={old_components["chat"]: "degraded"},
        **OPEN,
    )
    with pytest.raises(ApplicationError) as caught:
        services.incident_update(
            incident=other,
            actor=supervisor,
            state="identified",
            body_en="b",
            body_zh="b",
            at=timezone.now() - dt.timedelta(hours=1),
            reason="late",
        )
    assert "at" in caught.value.fields
    incident.refresh_from_db()
    assert incident.started_at == minutes_ago(240)
    assert AuditEvent.objects.filter(action="status.incident_backdated").count() == 2


def test_the_desk_corrects_a_time_for_supervisors_and_shows_bad_values_on_the_form(
    client, old_components, sev, supervisor, make_staff
):
    incident = declared_now(old_components, sev, supervisor)
    url = reverse("admin:status_incident_change", args=[incident.pk])
    sign_in(client, supervisor)
    assert "When it happened" in client.get(url).content.decode()
    bad = client.post(
        url,
        {
            "operation": "happened",
            "target": "start",
            "when": form_time(timezone.now() + dt.timedelta(hours=2)),
            "reason": "typo",
        },
    )
    assert bad.status_code == 400
    assert "in the future" in " ".join(bad.context["happened_form"].errors["when"])
    nonsense = client.post(url, {"operation": "happened", "target": "999999", "when": "x"})
    assert nonsense.status_code == 400
    assert {"target", "when", "reason"} <= set(nonsense.context["happened_form"].errors)
    began = minutes_ago(100)
    good = client.post(
        url,
        {"operation": "happened", "target": "start", "when": form_time(began), "reason": "Late"},
    )
    assert good.status_code == 302
    incident.refresh_from_db()
    assert incident.started_at == began

    sign_in(client, make_staff())  # an agent works the incident but corrects no times
    assert "When it happened" not in client.get(url).content.decode()
    refused = client.post(
        url,
        {"operation": "happened", "target": "start", "when": form_time(began), "reason": "x"},
    )
    assert refused.status_code == 400
    incident.refresh_from_db()
    assert incident.started_at == began


def test_an_update_posted_late_carries_its_time_and_reason_from_the_desk(
    client, old_components, sev, supervisor
):
    incident = services.incident_open(
        actor=supervisor,
        severity=sev["sev2"],
        components={old_components["east"]: "major_outage"},
        started_at=minutes_ago(120),
        started_reason="Noticed late",
        **OPEN,
    )
    url = reverse("admin:status_incident_change", args=[incident.pk])
    sign_in(client, supervisor)
    update = {
        "operation": "update",
        "state": "resolved",
        "body_en": "Back.",
        "body_zh": "已恢复。",
        "at": form_time(minutes_ago(30)),
    }
    missing = client.post(url, update)
    assert missing.status_code == 400
    assert missing.context["update_form"].errors["reason"] == ["This field is required."]
    assert client.post(url, {**update, "reason": "Forgot to post it"}).status_code == 302
    incident.refresh_from_db()
    assert incident.resolved_at == minutes_ago(30)
    assert outage_seconds(old_components["east"]) == pytest.approx(90 * 60)
    page = client.get(reverse("status:incident", args=[incident.pk])).content.decode()
    assert "posted at" in page
