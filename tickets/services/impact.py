"""A fault report's impact decides its opening priority, by the supervisors' priority rules.

The rules live in the database (tickets.models.PriorityRule, kept in the admin), so the table
of "production stopped -> P1" can change without a release. Only the opening uses them: once a
ticket is open its priority is the agents' to change (ticket_set_priority, audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from audit.services import audit_record
from tickets.models import PriorityRule

IMPACT_FIELDS = ("production", "machines_affected", "safety_risk")


@dataclass(frozen=True)
class Assessment:
    """What the rules made of an impact: the priority to open with and who must know."""

    priority: int
    rule: PriorityRule | None
    notify_supervisor: bool


def has_impact(report: dict[str, Any]) -> bool:
    """Whether the report answers any impact question (an empty answer is no answer)."""
    return any(report.get(name) not in (None, "") for name in IMPACT_FIELDS)


def impact_assess(*, report: dict[str, Any], requested: int) -> Assessment:
    """Return the priority for a report's impact: the more urgent of the requested one and
    the first matching rule's (a partner system that says P1 is not overruled by a rule that
    says P3; a customer who leaves the default P3 is raised by "production stopped")."""
    if not has_impact(report):
        return Assessment(priority=requested, rule=None, notify_supervisor=False)
    answers = {
        "production": report.get("production") or "",
        "machines": report.get("machines_affected"),
        "safety_risk": report.get("safety_risk"),
    }
    for rule in PriorityRule.objects.filter(is_active=True).order_by("position", "pk"):
        if rule.matches(**answers):
            return Assessment(
                priority=min(requested, rule.priority),
                rule=rule,
                notify_supervisor=rule.notify_supervisor,
            )
    return Assessment(priority=requested, rule=None, notify_supervisor=False)


@transaction.atomic
def priority_rule_save(*, rule: PriorityRule, actor: Any, changed: list[str]) -> PriorityRule:
    """Save a rule from the admin and audit who changed the table and how: a changed rule
    moves the priority of every fault reported after it."""
    created = rule.pk is None
    rule.save()
    audit_record(
        action="tickets.priority_rule_created" if created else "tickets.priority_rule_changed",
        actor=actor,
        target=rule,
        changes={name: _plain(getattr(rule, name)) for name in changed},
    )
    return rule


@transaction.atomic
def priority_rule_delete(*, rule: PriorityRule, actor: Any) -> None:
    audit_record(
        action="tickets.priority_rule_deleted",
        actor=actor,
        target=rule,
        data={"name": rule.name, "priority": rule.priority},
    )
    rule.delete()


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | str) else str(value)
