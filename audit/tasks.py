"""Celery tasks of audit: seal pending events into the chain, sign checkpoints of it."""

from __future__ import annotations

from celery import shared_task

from audit.services import audit_checkpoint, audit_seal


@shared_task(name="audit.seal")
def seal() -> int:
    return audit_seal()


@shared_task(name="audit.checkpoint")
def checkpoint() -> int:
    """Sign a checkpoint; a refusal fails the task (logged) and the next run tries again."""
    return audit_checkpoint().seq
