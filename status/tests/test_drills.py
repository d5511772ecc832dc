"""Failover drills: planned monthly, run end to end against a live desk over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
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


@pytest.mark.django_db(transaction=True)
def test_a_drill_runs_end_to_end_against_the_running_desk(
    live_server, components, sev, make_customer, make_org, settings, capsys
):
    settings.ALERTMANAGER_TOKEN = TOKEN
    settings.STATUS_NOTIFY_QUIET_SECONDS = 0
    make_customer(org=make_org(region="east"))
    planned = Drill.objects.create(component=components["east"], scheduled_for=timezone.now())
    call_command("failover_drill", line="east", base_url=live_server.url, limit=20)
    drill = Drill.objects.get()
    assert drill.pk == planned.pk and drill.outcome == DrillOutcome.PASSED, drill.notes
    assert set(drill.timings) == {
        "incident_on_status_page",
        "banner_for_customer",
        "notices_sent",
        "line_restored",
    }
    assert all(v is not None for v in drill.timings.values())
    assert drill.recovery_seconds == drill.timings["line_restored"] > 0
    assert drill.incident.state == IncidentState.RESOLVED
    assert drill.incident.last_notified_at is not None
    assert Component.objects.get(pk=components["east"].pk).status == "operational"
    assert AuditEvent.objects.filter(action="status.drill_run").exists()
    out = capsys.readouterr().out
    assert "incident_on_status_page" in out and "Drill passed" in out


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
