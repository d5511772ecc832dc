"""Celery tasks of the status app: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from status import services


@shared_task(name="status.maintenance_tick")
def maintenance_tick() -> dict:
    return services.maintenance_tick()
