"""Business-time arithmetic: add working seconds to an instant, count them between two.

Pure functions over a `CalendarSpec` (no database): working intervals are local wall-clock
times of the calendar's zone, turned into UTC instants per day, so days that are 23 or 25
hours long (daylight-saving changes) count the working time they really have. Holidays close
a day; make-up working days open one with Monday's hours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC = dt.UTC
# A calendar that never opens would make a search run forever; give up after this many days.
MAX_DAYS = 366 * 10

Interval = tuple[dt.time, dt.time]


class NoWorkingTime(ValueError):
    """The calendar has no working time within the search horizon."""


@dataclass(frozen=True)
class CalendarSpec:
    """An immutable snapshot of a business calendar."""

    timezone: str
    weekly: tuple[tuple[Interval, ...], ...]  # index 0 = Monday
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        # Per-day UTC intervals, memoised; not a field, so it is not compared or printed.
        object.__setattr__(self, "_cache", {})
        if len(self.weekly) != 7:
            raise ValueError("weekly needs seven entries, Monday first")
        for day in self.weekly:
            for start, end in day:
                if not start < end:
                    raise ValueError("a working interval must end after it starts")

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def local_intervals(self, day: dt.date) -> tuple[Interval, ...]:
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.weekly[0] if self.weekly[0] else _first_nonempty(self.weekly)
        return self.weekly[day.weekday()]

    def intervals(self, day: dt.date) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        """Return the day's working intervals as UTC instants, in order."""
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        zone = self.zone
        out = []
        for start, end in self.local_intervals(day):
            s = dt.datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
            e = dt.datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
            if e > s:
                out.append((s, e))
        result = tuple(out)
        if len(self._cache) > 20_000:
            self._cache.clear()
        self._cache[day] = result
        return result


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _first_nonempty(weekly: Iterable[tuple[Interval, ...]]) -> tuple[Interval, ...]:
    for day in weekly:
        if day:
            return day
    return ()


def _local_date(spec: CalendarSpec, instant: dt.datetime) -> dt.date:
    return instant.astimezone(spec.zone).date()


def _require_aware(*instants: dt.datetime) -> None:
    for instant in instants:
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("business-time arithmetic needs timezone-aware datetimes")


def add(spec: CalendarSpec, start: dt.datetime, seconds: float) -> dt.datetime:
    """Return the instant `seconds` of working time after `start` (before it, if negative).

    add(spec, t, 0) is t itself. A target that ends exactly at the close of an interval
    returns that close, not the next opening.
    """
    _require_aware(start)
    if seconds == 0:
        return start
    remaining = dt.timedelta(seconds=abs(seconds))
    day = _local_date(spec, start)
    if seconds > 0:
        day -= dt.timedelta(days=1)
        for _ in range(MAX_DAYS):
            for s, e in spec.intervals(day):
                if e <= start:
                    continue
                s = max(s, start)
                available = e - s
                if remaining <= available:
                    return s + remaining
                remaining -= available
            day += dt.timedelta(days=1)
    else:
        day += dt.timedelta(days=1)
        for _ in range(MAX_DAYS):
            for s, e in reversed(spec.intervals(day)):
                if s >= start:
                    continue
                e = min(e, start)
                available = e - s
                if remaining <= available:
                    return e - remaining
                remaining -= available
            day -= dt.timedelta(days=1)
    raise NoWorkingTime("the calendar has no working time in ten years")


def between(spec: CalendarSpec, a: dt.datetime, b: dt.datetime) -> float:
    """Return the working seconds from a to b (negative when b is before a)."""
    _require_aware(a, b)
    if b < a:
        return -between(spec, b, a)
    total = dt.timedelta()
    day = _local_date(spec, a) - dt.timedelta(days=1)
    last = _local_date(spec, b) + dt.timedelta(days=1)
    while day <= last:
        for s, e in spec.intervals(day):
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                total += hi - lo
        day += dt.timedelta(days=1)
    return total.total_seconds()


def is_working(spec: CalendarSpec, instant: dt.datetime) -> bool:
    """Return True if the instant falls inside a working interval."""
    _require_aware(instant)
    day = _local_date(spec, instant)
    return any(
        s <= instant < e
        for d in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1))
        for s, e in spec.intervals(d)
    )


def working_until(spec: CalendarSpec, instant: dt.datetime) -> dt.datetime | None:
    """Return the end of the working interval holding the instant, or None outside one."""
    _require_aware(instant)
    day = _local_date(spec, instant)
    for d in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)):
        for s, e in spec.intervals(d):
            if s <= instant < e:
                return e
    return None


class AroundTheClock:
    """Calendar time: every second counts."""

    @staticmethod
    def runs_for(instant: dt.datetime) -> float | None:
        """How long the clock runs on from the instant without a break (None: for ever)."""
        return None

    @staticmethod
    def add(start: dt.datetime, seconds: float) -> dt.datetime:
        return start + dt.timedelta(seconds=seconds)

    @staticmethod
    def between(a: dt.datetime, b: dt.datetime) -> float:
        return (b - a).total_seconds()


class BusinessClock:
    """Working time of one calendar."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec

    def add(self, start: dt.datetime, seconds: float) -> dt.datetime:
        return add(self.spec, start, seconds)

    def runs_for(self, instant: dt.datetime) -> float | None:
        """How long the clock runs on from the instant: to the end of the working interval
        (0 outside working hours). A page's countdown ticks only that long by itself."""
        end = working_until(self.spec, instant)
        return 0.0 if end is None else (end - instant).total_seconds()

    def between(self, a: dt.datetime, b: dt.datetime) -> float:
        return between(self.spec, a, b)
