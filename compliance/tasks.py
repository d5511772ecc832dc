"""Celery tasks of compliance: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from compliance import retention


@shared_task(name="compliance.retention_run")
def retention_run(dry_run: bool = False) -> dict:
    return retention.retention_run(dry_run=dry_run)
