"""Cutting a report's period into the points of a trend (core.reports.Period.bucket).

The database truncates each row's instant to its day, week (from Monday) or month in the
current time zone (the desk's, Asia/Shanghai), so a chat at 23:30 UTC on the 1st counts on the
2nd as the supervisors see it; the report then lists every bucket of the period, those without
rows too, so a trend has no gaps and a quiet week shows as zero, not as nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext as _

from core import reports
from core.reports import DAY, MONTH, WEEK, Column, Period

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


def trend(
    queryset: QuerySet, field: str, period: Period, zero: dict[str, Any], **aggregates: Any
) -> list[dict[str, Any]]:
    """One grouped query: the aggregates per bucket of `field`, every bucket of the period
    present (`zero`'s values where nothing fell), each row's bucket under the key "bucket"."""
    grouped = {
        bucket_date(row.pop("bucket")): row
        for row in queryset.annotate(bucket=trunc(field, period.bucket))
        .values("bucket")
        .annotate(**aggregates)
        .order_by("bucket")
    }
    return [{"bucket": day, **grouped.get(day, zero)} for day in bucket_starts(period)]


def bucket_column(period: Period, key: str = "bucket") -> Column:
    """The first column of a trend: its label and kind follow the bucket ("Month", shown as
    "Dec 2026"; "Week starting", a date; "Day")."""
    if period.bucket == MONTH:
        return Column(key, _("Month"), reports.YEAR_MONTH)
    if period.bucket == WEEK:
        return Column(key, _("Week starting"), reports.DATE)
    return Column(key, _("Day"), reports.DATE)
