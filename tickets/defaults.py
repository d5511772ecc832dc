"""The default service calendar, SLA policies and escalation rules (seed data and tests)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from accounts.models import Tier
from tickets.models import (
    BusinessCalendar,
    Clock,
    EscalationRule,
    Priority,
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
