"""Celery tasks of tickets: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from tickets.models import BusinessCalendar
from tickets.services import assignment, attachments_store, calendars, escalation, tickets


@shared_task(name="tickets.sla_scan")
def sla_scan() -> dict:
    return escalation.sla_scan()


@shared_task(name="tickets.close_resolved")
def close_resolved() -> int:
    return tickets.tickets_close_resolved()


@shared_task(name="tickets.refresh_holidays")
def refresh_holidays() -> list[dict]:
    year = timezone.localdate().year
    out = []
    for calendar in BusinessCalendar.objects.exclude(holiday_country=""):
        for y in (year, year + 1):
            out.append(calendars.calendar_import_year(calendar=calendar, year=y))
    return out


@shared_task(name="tickets.sweep_attachments")
def sweep_attachments() -> int:
    return attachments_store.attachments_sweep_orphans()


@shared_task(name="tickets.rebuild_agent_loads")
def rebuild_agent_loads() -> int:
    return assignment.agent_loads_rebuild()


@shared_task(name="tickets.rescan_attachments")
def rescan_attachments() -> dict:
    return attachments_store.attachments_rescan()
