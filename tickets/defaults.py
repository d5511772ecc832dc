"""The default service calendar, SLA policies, escalation and priority rules (seed data and
tests)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from accounts.models import Tier
from tickets.models import (
    BusinessCalendar,
    Clock,
    EscalationRule,
    Priority,
    PriorityRule,
    Production,
    SLAPolicy,
    Target,
    WorkingHours,
)

CALENDAR_NAME = "China service hours"
HOURS = ((dt.time(8, 30), dt.time(12, 0)), (dt.time(13, 0), dt.time(17, 30)))
# Premium targets in minutes (first response, next reply, resolution); others are scaled.
PREMIUM = {
    Priority.P1: (30, 60, 8 * 60),
    Priority.P2: (60, 120, 2 * 8 * 60),
    Priority.P3: (4 * 60, 8 * 60, 5 * 8 * 60),
    Priority.P4: (8 * 60, 16 * 60, 10 * 8 * 60),
}
SCALE = {Tier.PREMIUM: 1.0, Tier.PLUS: 1.5, Tier.STANDARD: 2.0}
# Every default policy: warn the assignee at 75 % of resolution, call the supervisor at 100 %
# of first response or resolution, raise the priority at 150 % of resolution.
DEFAULT_RULES = [
    {"target": Target.FIRST_RESPONSE, "percent": 100, "level": 2, "notify_supervisor": True},
    {"target": Target.RESOLUTION, "percent": 75, "level": 1},
    {"target": Target.RESOLUTION, "percent": 100, "level": 2, "notify_supervisor": True},
    {
        "target": Target.RESOLUTION,
        "percent": 150,
        "level": 3,
        "notify_supervisor": True,
        "raise_priority": True,
    },
]


@transaction.atomic
def ensure_calendar(*, import_holidays: bool = True) -> BusinessCalendar:
    calendar, created = BusinessCalendar.objects.get_or_create(
        name=CALENDAR_NAME, defaults={"timezone": "Asia/Shanghai", "holiday_country": "CN"}
    )
    if created:
        WorkingHours.objects.bulk_create(
            WorkingHours(calendar=calendar, weekday=day, starts=s, ends=e)
            for day in range(5)
            for s, e in HOURS
        )
        if import_holidays:
            from tickets.services.calendars import calendar_import_year

            for year in (2026, 2027):
                calendar_import_year(calendar=calendar, year=year, actor="system")
    return calendar


@transaction.atomic
def ensure_policies(calendar: BusinessCalendar | None = None) -> list[SLAPolicy]:
    calendar = calendar or ensure_calendar()
    policies = []
    for tier, factor in SCALE.items():
        for priority, minutes in PREMIUM.items():
            first, nxt, resolution = (round(m * factor) for m in minutes)
            around_the_clock = priority == Priority.P1 and tier != Tier.STANDARD
            policy, created = SLAPolicy.objects.get_or_create(
                tier=tier,
                priority=priority,
                defaults={
                    "name": f"{Tier(tier).label} P{priority}",
                    "clock": Clock.CALENDAR if around_the_clock else Clock.BUSINESS,
                    "calendar": calendar,
                    "first_response_minutes": first,
                    "next_reply_minutes": nxt,
                    "resolution_minutes": resolution,
                },
            )
            if created:
                EscalationRule.objects.bulk_create(
                    EscalationRule(policy=policy, **rule) for rule in DEFAULT_RULES
                )
            policies.append(policy)
    return policies


# The priority table the data migration 0012_fault_impact creates (its own frozen copy):
# a safety risk always P1 with the supervisors told, then by what production suffers.
PRIORITY_RULES = [
    (10, "A safety risk", "存在安全风险", "", True, Priority.P1, True),
    (20, "Production stopped", "生产停止", Production.STOPPED, None, Priority.P1, False),
    (
        30,
        "Production slowed or poorer quality",
        "生产变慢或质量下降",
        Production.DEGRADED,
        None,
        Priority.P2,
        False,
    ),
    (
        40,
        "Production not affected",
        "生产未受影响",
        Production.UNAFFECTED,
        None,
        Priority.P3,
        False,
    ),
]


def ensure_priority_rules() -> list[PriorityRule]:
    """The default priority rules, unless the table holds rules already (a test database
    flushed after a live-server test has lost the migration's rows)."""
    if PriorityRule.objects.exists():
        return list(PriorityRule.objects.all())
    return PriorityRule.objects.bulk_create(
        PriorityRule(
            position=position,
            name=name,
            name_zh=name_zh,
            production=production,
            safety_risk=safety_risk,
            priority=priority,
            notify_supervisor=notify,
        )
        for position, name, name_zh, production, safety_risk, priority, notify in PRIORITY_RULES
    )
