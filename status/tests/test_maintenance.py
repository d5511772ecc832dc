"""Maintenance windows: components go under maintenance and back by themselves."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from core.errors import ApplicationError
from status import services
from status.models import Component, ComponentStatusChange, Maintenance, MaintenanceState
from testsupport import sign_in

pytestmark = pytest.mark.django_db


def status_of(component) -> str:
    return Component.objects.get(pk=component.pk).status


def plan(components, start, hours=2, **extra):
    return services.maintenance_schedule(
        actor="user:1",
        title_en="Switch upgrade",
        title_zh="交换机升级",
        components=[components["east"], components["chat"]],
        starts_at=start,
        ends_at=start + dt.timedelta(hours=hours),
        **extra,
    )


def test_a_window_starts_and_ends_by_itself_and_leaves_history(components):
    start = timezone.now() + dt.timedelta(minutes=30)
    window = plan(components, start)
    assert services.maintenance_tick(now=start - dt.timedelta(minutes=1)) == {
        "started": 0,
        "ended": 0,
    }
    assert services.maintenance_tick(now=start + dt.timedelta(seconds=5))["started"] == 1
    assert status_of(components["east"]) == status_of(components["chat"]) == "maintenance"
    assert status_of(components["south"]) == "operational"
    assert services.maintenance_tick(now=start + dt.timedelta(hours=2, seconds=5))["ended"] == 1
    assert status_of(components["east"]) == "operational"
    window.refresh_from_db()
    assert window.state == MaintenanceState.COMPLETED
    history = ComponentStatusChange.objects.filter(component=components["east"])
    assert [(h.to_status, h.changed_by) for h in history] == [
        ("maintenance", "system:maintenance"),
        ("operational", "system:maintenance"),
    ]


def test_an_outage_during_maintenance_is_graver_and_ends_back_in_maintenance(components, sev):
    start = timezone.now() - dt.timedelta(minutes=1)
    plan(components, start)
    services.maintenance_tick()
    incident = services.incident_open(
        actor="system",
        severity=sev["sev2"],
        title_en="Down",
        title_zh="中断",
        components={components["east"]: "major_outage"},
        body_en="x",
        body_zh="x",
    )
    assert status_of(components["east"]) == "major_outage"
    services.incident_update(
        incident=incident, actor="system", state="resolved", body_en="ok", body_zh="好"
    )
    assert status_of(components["east"]) == "maintenance"


def test_cancelling_a_running_window_restores_its_components(components):
    window = plan(components, timezone.now() - dt.timedelta(minutes=1))
    services.maintenance_tick()
    services.maintenance_cancel(maintenance=window, actor="user:1")
    assert status_of(components["east"]) == "operational"
    assert services.maintenance_tick(now=timezone.now() + dt.timedelta(hours=3))["ended"] == 0


@pytest.mark.parametrize(
    ("start", "hours", "field"),
    [
        (dt.timedelta(hours=1), -1, "ends_at"),  # ends before it starts
        (dt.timedelta(hours=-5), 2, "ends_at"),  # over already
    ],
)
def test_bad_windows_are_refused(components, start, hours, field):
    with pytest.raises(ApplicationError) as refused:
        plan(components, timezone.now() + start, hours=hours)
    assert field in refused.value.fields
    assert not Maintenance.objects.exists()


def test_supervisors_plan_in_the_admin_and_agents_cannot(client, components, make_staff):
    url = reverse("admin:status_maintenance_add")
    start = timezone.localtime() + dt.timedelta(days=1)
    data = {
        "title_en": "Switch upgrade",
        "title_zh": "交换机升级",
        "components": [components["east"].pk],
        "starts_at": start.strftime("%Y-%m-%d %H:%M"),
        "ends_at": (start + dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M"),
    }
    sign_in(client, make_staff())
    assert client.post(url, data).status_code in (403, 404)
    sign_in(client, make_staff(roles=("supervisor",)))
    bad = client.post(url, {**data, "ends_at": data["starts_at"]})
    assert bad.status_code == 400 and "Choose an end after the start." in bad.content.decode()
    assert client.post(url, data).status_code == 302
    assert Maintenance.objects.get().components.get() == components["east"]


def test_subscribers_are_reminded_once_shortly_before_the_start(components):
    from notifications.models import Outbox
    from status import notify

    everyone = notify.subscribe(email="all@example.com", language="zh-hans")
    notify.confirm(token=everyone.token)
    south = notify.subscribe(email="south@example.com", components=[components["south"]])
    notify.confirm(token=south.token)
    start = timezone.now() + dt.timedelta(hours=3)
    plan(components, start)  # the east hotline and the chat
    assert notify.maintenance_remind(now=start - dt.timedelta(hours=2)) == 0  # too early
    assert notify.maintenance_remind(now=start - dt.timedelta(minutes=50)) == 1
    assert notify.maintenance_remind(now=start - dt.timedelta(minutes=40)) == 0  # once
    (reminder,) = Outbox.objects.filter(key__startswith="status:maintenance:")
    assert reminder.recipient == "all@example.com"
    assert "交换机升级" in reminder.subject and "在线客服" in reminder.body
    assert reverse("status:unsubscribe", args=[everyone.token]) in reminder.body
