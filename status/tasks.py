"""Celery tasks of the status app: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from status import drills, notify, services


@shared_task(name="status.maintenance_tick")
def maintenance_tick() -> dict:
    return {**services.maintenance_tick(), "reminded": notify.maintenance_remind()}


@shared_task(name="status.notify_tick")
def notify_tick() -> int:
    return notify.notify_tick()


@shared_task(name="status.notify_incident")
def notify_incident(pk: int) -> int:
    return notify.notify_incident(pk)


@shared_task(name="status.drills_schedule")
def drills_schedule() -> int:
    return drills.drills_schedule()
