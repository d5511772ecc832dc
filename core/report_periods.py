"""Cutting a report's period into the points of a trend (core.reports.Period.bucket).

The database truncates each row's instant to its day, week (from Monday) or month in the
current time zone (the desk's, Asia/Shanghai), so a chat at 23:30 UTC on the 1st counts on the
2nd as the supervisors see it; the report then lists every bucket of the period, those without
rows too, so a trend has no gaps and a quiet week shows as zero, not as nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from core.reports import DAY, MONTH, WEEK, Period

_TRUNC = {DAY: TruncDay, WEEK: TruncWeek, MONTH: TruncMonth}


def trunc(field: str, bucket: str) -> Any:
    """The expression of `field`'s bucket (an aware local midnight), in the current zone."""
    return _TRUNC.get(bucket, TruncDay)(field, tzinfo=timezone.get_current_timezone())


def bucket_date(value: Any) -> dt.date | None:
    """A truncated instant from the database as the local date that starts its bucket."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def _start_of(day: dt.date, bucket: str) -> dt.date:
    if bucket == WEEK:
        return day - dt.timedelta(days=day.weekday())
    if bucket == MONTH:
        return day.replace(day=1)
    return day


def _next(day: dt.date, bucket: str) -> dt.date:
    if bucket == WEEK:
        return day + dt.timedelta(days=7)
    if bucket == MONTH:
        return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return day + dt.timedelta(days=1)


def bucket_starts(period: Period, bucket: str | None = None) -> list[dt.date]:
    """The local dates that start each bucket touched by [start, end), oldest first."""
    bucket = bucket or period.bucket
    if period.end <= period.start:
        return []
    first = timezone.localtime(period.start).date()
    # The end is exclusive: a period ending at midnight does not touch that day.
    last = timezone.localtime(period.end - dt.timedelta(microseconds=1)).date()
    days, day = [], _start_of(first, bucket)
    while day <= last:
        days.append(day)
        day = _next(day, bucket)
    return days
