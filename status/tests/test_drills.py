"""Failover drills: planned monthly, run end to end against a live desk over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from notifications.models import Outbox
from status import drills
from status.models import Component, Drill, DrillOutcome, IncidentState

TOKEN = "alert-token-for-drills-0123456789"


@pytest.mark.django_db
def test_next_months_drills_are_planned_once_per_hotline(components):
    now = timezone.make_aware(dt.datetime(2026, 11, 25, 10, 0))
    assert drills.drills_schedule(now=now) == 2  # two hotlines; the chat is not drilled
    assert drills.drills_schedule(now=now) == 0
    first = Drill.objects.order_by("pk").first()
    local = timezone.localtime(first.scheduled_for)
    assert (local.year, local.month, local.day, local.hour) == (2026, 12, 1, 2)  # 1st Tuesday
    assert first.outcome == DrillOutcome.SCHEDULED


def people_to_tell(components, make_customer, make_org):
    """A customer of the line's region with an open ticket (by e-mail and SMS) and two
    confirmed subscribers: the first notice has several messages to write."""
    from status.tests.test_notify import confirmed, customer_with_ticket

    customer_with_ticket(
        make_customer, make_org, "east", notify_sms=True, phone="+86 138 0013 8000"
    )
    confirmed("plant@example.com")
    confirmed("east-only@example.com", language="zh-hans", components=[components["east"]])


@pytest.mark.django_db(transaction=True)
def test_a_drill_runs_end_to_end_against_the_running_desk(
    live_server, components, sev, make_customer, make_org, settings, capsys
):
    settings.ALERTMANAGER_TOKEN = TOKEN
    people_to_tell(components, make_customer, make_org)
    planned = Drill.objects.create(component=components["east"], scheduled_for=timezone.now())
    call_command("failover_drill", line="east", base_url=live_server.url, limit=20)
    drill = Drill.objects.get()
    assert drill.pk == planned.pk and drill.outcome == DrillOutcome.PASSED, drill.notes
    assert set(drill.timings) == {
        "incident_on_status_page",
        "banner_for_customer",
        "first_notice",
        "line_restored",
    }
    assert all(v is not None for v in drill.timings.values())
    # The quiet moment (60 s by default, not shortened here) no longer holds the first notice.
    assert 0 <= drill.timings["first_notice"] < 10
    assert drill.recovery_seconds == drill.timings["line_restored"] > 0
    assert drill.incident.state == IncidentState.RESOLVED
    assert drill.incident.last_notified_at is not None
    first = Outbox.objects.filter(key__startswith=f"status:{drill.incident.pk}:v1:")
    assert first.count() == 4  # customer by e-mail and SMS, two subscribers
    assert Component.objects.get(pk=components["east"].pk).status == "operational"
    assert AuditEvent.objects.filter(action="status.drill_run").exists()
    out = capsys.readouterr().out
    assert "incident_on_status_page" in out and "first_notice" in out and "Drill passed" in out


@pytest.mark.django_db(transaction=True)
def test_a_drill_fails_when_the_first_notice_takes_longer_than_30_seconds(
    live_server, components, sev, make_customer, make_org, settings, monkeypatch
):
    settings.ALERTMANAGER_TOKEN = TOKEN
    make_customer(org=make_org(region="east"))
    monkeypatch.setattr(drills, "first_notice_seconds", lambda incident, alerted_at: 30.5)
    with pytest.raises(CommandError, match="first_notice"):
        call_command("failover_drill", line="east", base_url=live_server.url, limit=20)
    drill = Drill.objects.get()
    assert drill.outcome == DrillOutcome.FAILED
    assert drill.timings["first_notice"] == 30.5
    assert "first_notice (30.50 s, limit 30 s)" in drill.notes
    assert drill.timings["line_restored"] is not None  # the rest of the drill still ran


@pytest.mark.django_db
def test_the_first_notice_is_timed_from_the_alert_to_its_last_message_in_the_outbox(
    components, sev, make_customer, make_org, django_capture_on_commit_callbacks
):
    from status import services

    people_to_tell(components, make_customer, make_org)
    alerted_at = timezone.now() - dt.timedelta(seconds=40)
    with django_capture_on_commit_callbacks(execute=True):
        incident = services.incident_open(
            actor="system:alertmanager",
            severity=sev["sev2"],
            title_en="Hotline East unreachable",
            title_zh="华东热线无法接通",
            components={components["east"]: "major_outage"},
            body_en="Use the chat.",
            body_zh="请使用在线客服。",
        )
    last = Outbox.objects.filter(key__startswith=f"status:{incident.pk}:v1:").latest("created_at")
    assert drills.first_notice_seconds(incident, alerted_at) == round(
        (last.created_at - alerted_at).total_seconds(), 2
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_update(
            incident=incident, actor="system", state="resolved", body_en="ok", body_zh="好"
        )
    # The resolution's messages are later: the first notice's time does not move.
    assert drills.first_notice_seconds(incident, alerted_at) == round(
        (last.created_at - alerted_at).total_seconds(), 2
    )


@pytest.mark.django_db
def test_a_drill_refuses_to_start_without_what_it_needs(components, settings):
    settings.ALERTMANAGER_TOKEN = ""
    with pytest.raises(CommandError, match="ALERTMANAGER_TOKEN"):
        call_command("failover_drill", line="east", base_url="http://127.0.0.1:9")
    settings.ALERTMANAGER_TOKEN = TOKEN
    with pytest.raises(CommandError, match="No hotline"):
        call_command("failover_drill", line="mars", base_url="http://127.0.0.1:9")
    with pytest.raises(CommandError, match="did not answer"):
        call_command("failover_drill", line="east", base_url="http://127.0.0.1:9", limit=1)
    with pytest.raises(CommandError, match="http"):
        call_command("failover_drill", line="east", base_url="file:///etc/passwd")
