"""Celery tasks of audit: seal pending events into the chain."""

from __future__ import annotations

from celery import shared_task

from audit.services import audit_seal


@shared_task(name="audit.seal")
def seal() -> int:
    return audit_seal()
