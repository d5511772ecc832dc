"""Property and example tests of the business-time arithmetic (no database)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickets import businesstime as bt

NINE_TO_SIX = ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(18)))
WEEK = (NINE_TO_SIX,) * 5 + ((), ())
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")

# The State Council's 2026 schedule around the Spring Festival.
SPRING_2026 = bt.CalendarSpec(
    timezone="Asia/Shanghai",
    weekly=WEEK,
    holidays=frozenset(dt.date(2026, 2, d) for d in (16, 17, 18, 19, 20, 23)),
    workdays=frozenset({dt.date(2026, 2, 14), dt.date(2026, 2, 28)}),
)
BERLIN_SPEC = bt.CalendarSpec(timezone="Europe/Berlin", weekly=WEEK)
# A calendar with a night shift across midnight split into two intervals and a DST-crossing one.
NIGHTS = bt.CalendarSpec(
    timezone="Europe/Berlin",
    weekly=(((dt.time(0), dt.time(6)), (dt.time(22), dt.time(23, 59))),) * 7,
)

SPECS = st.sampled_from([SPRING_2026, BERLIN_SPEC, NIGHTS])
INSTANTS = st.datetimes(
    min_value=dt.datetime(2026, 1, 1),
    max_value=dt.datetime(2026, 12, 31),
    timezones=st.just(dt.UTC),
)
SECONDS = st.integers(min_value=0, max_value=40 * 24 * 3600)


def sh(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def test_spring_festival_2026_break_and_make_up_saturday():
    # Friday 13 Feb 2026, 17:00: one working hour left that day.
    start = sh(2026, 2, 13, 17, 0)
    # Saturday 14 Feb is a make-up working day: the next 8 hours are spent on it.
    assert bt.add(SPRING_2026, start, 3600) == sh(2026, 2, 13, 18, 0)
    assert bt.add(SPRING_2026, start, 2 * 3600) == sh(2026, 2, 14, 10, 0)
    # After the Saturday, 15 to 23 Feb is closed: work resumes on Tuesday 24 Feb at 09:00.
    after_saturday = bt.add(SPRING_2026, start, 3600 + 8 * 3600 + 1)
    assert after_saturday == sh(2026, 2, 24, 9, 0, 1)
    assert bt.between(SPRING_2026, sh(2026, 2, 14, 18, 0), sh(2026, 2, 24, 9, 0)) == 0


def test_exact_end_of_interval_is_returned_not_next_opening():
    assert bt.add(BERLIN_SPEC, dt.datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN), 3 * 3600) == (
        dt.datetime(2026, 3, 2, 12, 0, tzinfo=BERLIN)
    )


def test_dst_night_has_one_hour_less():
    # 29 Mar 2026: clocks in Berlin jump from 02:00 to 03:00, so 00:00-06:00 is 5 hours.
    night = NIGHTS.intervals(dt.date(2026, 3, 29))[0]
    assert (night[1] - night[0]) == dt.timedelta(hours=5)
    # 25 Oct 2026: clocks go back, the same night lasts 7 hours.
    night = NIGHTS.intervals(dt.date(2026, 10, 25))[0]
    assert (night[1] - night[0]) == dt.timedelta(hours=7)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        bt.add(BERLIN_SPEC, dt.datetime(2026, 3, 2, 9), 60)


def test_calendar_without_working_time_raises():
    closed = bt.CalendarSpec(timezone="UTC", weekly=((),) * 7)
    with pytest.raises(bt.NoWorkingTime):
        bt.add(closed, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 60)


@settings(max_examples=300, deadline=None)
@given(spec=SPECS, start=INSTANTS, seconds=SECONDS)
def test_add_then_between_gives_the_seconds_back(spec, start, seconds):
    end = bt.add(spec, start, seconds)
    assert end >= start
    assert bt.between(spec, start, end) == pytest.approx(seconds, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(spec=SPECS, start=INSTANTS, seconds=SECONDS)
def test_negative_add_inverts_positive_add(spec, start, seconds):
    end = bt.add(spec, start, seconds)
    back = bt.add(spec, end, -seconds)
    # Going back lands on start itself or, when start lay outside working hours, on the
    # edge of the working time next to it: no working time lies between the two.
    assert bt.between(spec, back, start) == pytest.approx(0, abs=1e-6)
    if seconds and bt.is_working(spec, start):
        assert back == start


@settings(max_examples=200, deadline=None)
@given(spec=SPECS, a=INSTANTS, b=INSTANTS)
def test_between_is_antisymmetric_and_bounded(spec, a, b):
    assert bt.between(spec, a, b) == pytest.approx(-bt.between(spec, b, a), abs=1e-6)
    assert abs(bt.between(spec, a, b)) <= abs((b - a).total_seconds()) + 1e-6


@settings(max_examples=200, deadline=None)
@given(spec=SPECS, start=INSTANTS, s1=SECONDS, s2=SECONDS)
def test_add_is_monotonic(spec, start, s1, s2):
    lo, hi = sorted((s1, s2))
    assert bt.add(spec, start, lo) <= bt.add(spec, start, hi)


@settings(max_examples=200, deadline=None)
@given(start=INSTANTS, seconds=st.integers(min_value=1, max_value=20 * 24 * 3600))
def test_a_positive_target_never_ends_on_a_holiday_or_weekend(start, seconds):
    end = bt.add(SPRING_2026, start, seconds)
    local = end.astimezone(SHANGHAI)
    # The instant is inside working time, or is the close of an interval.
    day = local.date()
    assert day not in SPRING_2026.holidays
    assert day.weekday() < 5 or day in SPRING_2026.workdays
    assert bt.is_working(SPRING_2026, end) or bt.is_working(
        SPRING_2026, end - dt.timedelta(microseconds=1)
    )


@settings(max_examples=100, deadline=None)
@given(a=INSTANTS, b=INSTANTS, c=INSTANTS)
def test_between_is_additive(a, b, c):
    a, b, c = sorted((a, b, c))
    total = bt.between(BERLIN_SPEC, a, c)
    assert total == pytest.approx(bt.between(BERLIN_SPEC, a, b) + bt.between(BERLIN_SPEC, b, c))
