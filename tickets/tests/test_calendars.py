"""Holiday import from the holidays package, manual overrides and the refresh command."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from core.errors import ApplicationError
from tickets.models import BusinessCalendar, CalendarDay, DayKind, DaySource
from tickets.services import calendars
from tickets.services.calendars import calendar_spec


@pytest.fixture
def calendar(db):
    from tickets.defaults import ensure_calendar

    return ensure_calendar(import_holidays=False)


def test_import_2026_has_spring_festival_and_make_up_saturday(calendar):
    result = calendars.calendar_import_year(calendar=calendar, year=2026, actor="system")
    assert result["created"] > 20
    days = dict(CalendarDay.objects.filter(calendar=calendar).values_list("date", "kind"))
    assert days[dt.date(2026, 2, 14)] == DayKind.WORKDAY  # a working Saturday
    for d in (16, 17, 18, 19, 20, 23):
        assert days[dt.date(2026, 2, d)] == DayKind.HOLIDAY
    # Running it again changes nothing.
    again = calendars.calendar_import_year(calendar=calendar, year=2026, actor="system")
    assert (again["created"], again["updated"], again["removed"]) == (0, 0, 0)


def test_manual_day_survives_refresh_and_reaches_the_engine(calendar):
    calendars.calendar_import_year(calendar=calendar, year=2026, actor="system")
    version = BusinessCalendar.objects.get(pk=calendar.pk).version
    # A supervisor declares 2 Mar 2026 a company holiday.
    calendars.calendar_day_set(
        calendar=calendar, date=dt.date(2026, 3, 2), kind=DayKind.HOLIDAY, actor=None
    )
    calendar.refresh_from_db()
    assert calendar.version > version
    assert dt.date(2026, 3, 2) in calendar_spec(calendar).holidays
    # A later import does not touch it, even for a day the package lists differently.
    calendars.calendar_day_set(
        calendar=calendar, date=dt.date(2026, 2, 17), kind=DayKind.WORKDAY, actor=None
    )
    calendars.calendar_import_year(calendar=calendar, year=2026, actor="system")
    row = CalendarDay.objects.get(calendar=calendar, date=dt.date(2026, 2, 17))
    assert (row.kind, row.source) == (DayKind.WORKDAY, DaySource.MANUAL)


def test_unknown_country_is_a_clear_error(calendar):
    calendar.holiday_country = "XX"
    with pytest.raises(ApplicationError, match="no calendar for country XX"):
        calendars.calendar_import_year(calendar=calendar, year=2026)


def test_command_imports_a_year_with_progress(calendar):
    out = StringIO()
    call_command("import_holidays", "--year", "2027", stdout=out)
    assert "China service hours 2027:" in out.getvalue()
    assert CalendarDay.objects.filter(calendar=calendar, date__year=2027).exists()
