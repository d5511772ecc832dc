"""Reads behind the machines' alarms: the rules, and the tickets alarms opened."""

from __future__ import annotations

from typing import Any

from equipment.models import SEVERITY_RANK
from intake.models import AlarmRule, AlarmTicket, SilenceRule
from tickets.models import ACTIVE_STATUSES


def active_rules() -> list[AlarmRule]:
    """Every active rule, the ones with a code first (they win over a catch-all)."""
    return sorted(
        AlarmRule.objects.filter(is_active=True).select_related("queue"),
        key=lambda rule: (rule.code == "", rule.pk),
    )


def rule_for(rules: list[AlarmRule], *, code: str, severity: str) -> AlarmRule | None:
    """The rule that decides an alarm: the first of `rules` (active_rules' order) whose code
    is the alarm's or blank and whose lowest severity the alarm reaches."""
    rank = SEVERITY_RANK.get(severity, 0)
    for rule in rules:
        if rule.code in ("", code) and rank >= SEVERITY_RANK.get(rule.min_severity, 0):
            return rule
    return None


def open_alarm_ticket(*, unit_id: int, code: str) -> AlarmTicket | None:
    """The latest ticket an alarm of this unit and code opened, if it is still active."""
    return (
        AlarmTicket.objects.select_related("ticket")
        .filter(unit_id=unit_id, code=code, ticket__status__in=ACTIVE_STATUSES)
        .order_by("-last_at", "-pk")
        .first()
    )


def alarm_tickets_of(ticket: Any) -> list[AlarmTicket]:
    """The alarms that opened (or joined) a ticket: usually one (unit, code)."""
    return list(AlarmTicket.objects.filter(ticket=ticket).select_related("unit").order_by("pk"))


def silence_rules() -> list[SilenceRule]:
    return list(SilenceRule.objects.filter(is_active=True).select_related("queue"))
