"""Celery tasks of compensation: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from accounts import selectors as account_selectors
from compensation import services
from compensation.models import Assessment


@shared_task(name="compensation.assess_pending")
def assess_pending() -> dict:
    return services.assess_pending()


@shared_task(name="compensation.decide_all")
def decide_all(*, assessment_id: int, approve: bool, actor_id: int | None, reason: str) -> dict:
    """A supervisor's "approve (or reject) all": chunk after chunk, each its own transaction."""
    assessment = Assessment.objects.get(pk=assessment_id)
    actor = account_selectors.users_by_id([actor_id]).get(actor_id) if actor_id else None
    done = services.assessment_decide_all(
        assessment=assessment, approve=approve, actor=actor, reason=reason
    )
    return {"done": done.done, "skipped": done.skipped}
