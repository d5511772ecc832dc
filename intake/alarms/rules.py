"""Writes of the alarm rules and silence watches supervisors keep in the admin, audited: a
changed rule decides which of every machine's next alarms open tickets."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from audit.services import audit_record


def _plain(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    return value if value is None or isinstance(value, bool | int | str) else str(value)


@transaction.atomic
def rule_save(*, rule: models.Model, actor: Any, changed: list[str]) -> models.Model:
    """Save an AlarmRule or a SilenceRule and audit what changed."""
    created = rule.pk is None
    rule.save()
    name = rule._meta.model_name
    audit_record(
        action=f"intake.{name}_created" if created else f"intake.{name}_changed",
        actor=actor,
        target=rule,
        changes={field: _plain(getattr(rule, field)) for field in changed},
    )
    return rule


@transaction.atomic
def rule_delete(*, rule: models.Model, actor: Any) -> None:
    audit_record(
        action=f"intake.{rule._meta.model_name}_deleted",
        actor=actor,
        target=rule,
        data={"rule": str(rule)},
    )
    rule.delete()
