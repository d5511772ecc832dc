"""A report's period cut into local days, weeks (from Monday) and months: every bucket the
period touches, its end excluded, in the desk's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone

from core.report_periods import bucket_date, bucket_starts
from core.reports import DAY, MONTH, WEEK, Period

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def test_days_are_local_and_the_end_is_excluded():
    # 16:00 UTC on 1 March is midnight of 2 March in Shanghai.
    start = dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC)
    with timezone.override(SHANGHAI):
        days = bucket_starts(Period(start=start, end=at(2026, 3, 4), bucket=DAY))
    assert days == [dt.date(2026, 3, 2), dt.date(2026, 3, 3)]


def test_weeks_start_on_monday_and_months_on_the_first():
    with timezone.override(SHANGHAI):
        weeks = bucket_starts(Period(start=at(2026, 3, 1), end=at(2026, 3, 10), bucket=WEEK))
        months = bucket_starts(
            Period(start=at(2025, 12, 31, 23), end=at(2026, 2, 1, 0, 1), bucket=MONTH)
        )
    assert weeks == [dt.date(2026, 2, 23), dt.date(2026, 3, 2), dt.date(2026, 3, 9)]
    assert months == [dt.date(2025, 12, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1)]


def test_an_empty_period_has_no_buckets_and_a_database_instant_becomes_its_local_date():
    assert bucket_starts(Period(start=at(2026, 3, 2), end=at(2026, 3, 2))) == []
    with timezone.override(SHANGHAI):
        assert bucket_date(dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC)) == dt.date(2026, 3, 2)
    assert bucket_date(None) is None
