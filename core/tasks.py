"""Celery tasks of core: thin wrappers over its housekeeping functions."""

from __future__ import annotations

from celery import shared_task

from core.idempotency import idempotency_purge


@shared_task(name="core.purge_idempotency")
def purge_idempotency() -> int:
    return idempotency_purge()
