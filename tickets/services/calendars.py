"""Business calendars: load them for the SLA engine and import statutory holidays."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import holidays as holidays_pkg
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import ApplicationError
from tickets import businesstime as bt
from tickets.models import BusinessCalendar, CalendarDay, DayKind, DaySource, WorkingHours

_lock = threading.Lock()
_specs: dict[int, tuple[tuple, bt.CalendarSpec]] = {}


def calendar_spec(calendar: BusinessCalendar) -> bt.CalendarSpec:
    """Return the calendar as a CalendarSpec, from a per-process cache keyed by its version."""
    stamp = (calendar.version, calendar.updated_at)
    cached = _specs.get(calendar.pk)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    weekly: list[list[tuple[dt.time, dt.time]]] = [[] for _ in range(7)]
    for weekday, starts, ends in WorkingHours.objects.filter(calendar=calendar).values_list(
        "weekday", "starts", "ends"
    ):
        weekly[weekday].append((starts, ends))
    holidays, workdays = set(), set()
    for day, kind in CalendarDay.objects.filter(calendar=calendar).values_list("date", "kind"):
        (holidays if kind == DayKind.HOLIDAY else workdays).add(day)
    spec = bt.CalendarSpec(
        timezone=calendar.timezone,
        weekly=tuple(tuple(sorted(day)) for day in weekly),
        holidays=frozenset(holidays),
        workdays=frozenset(workdays),
    )
    with _lock:
        _specs[calendar.pk] = (stamp, spec)
    return spec


def clear_calendar_cache() -> None:
    with _lock:
        _specs.clear()
    from tickets.services.sla import clear_policy_cache  # cached policies hold calendars

    clear_policy_cache()


def calendar_touch(*, calendar: BusinessCalendar) -> None:
    """Bump the calendar's version so every process reloads it."""
    BusinessCalendar.objects.filter(pk=calendar.pk).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    from tickets.services.sla import clear_policy_cache  # cached policies hold calendars

    clear_policy_cache()


def statutory_days(country: str, year: int) -> tuple[dict[dt.date, str], set[dt.date]]:
    """Return ({holiday: name}, {make-up working day}) for a year from the holidays package."""
    try:
        calendar = holidays_pkg.country_holidays(country, years=year)
    except NotImplementedError as exc:
        raise ApplicationError(
            _("The holidays package has no calendar for country %(c)s.") % {"c": country}
        ) from exc
    off = {day: str(name) for day, name in calendar.items() if day.year == year}
    workdays = {day for day in getattr(calendar, "weekend_workdays", set()) if day.year == year}
    return off, workdays


@transaction.atomic
def calendar_import_year(*, calendar: BusinessCalendar, year: int, actor: Any = None) -> dict:
    """Import a year's holidays and make-up working days; manual days are never overwritten.

    Running it twice changes nothing the second time. Returns counts of what changed.
    """
    if not calendar.holiday_country:
        raise ApplicationError(_("This calendar has no country for public holidays."))
    if not 2000 <= year <= 2100:
        raise ApplicationError(_("Choose a year between 2000 and 2100."))
    off, workdays = statutory_days(calendar.holiday_country, year)
    wanted = {day: (DayKind.HOLIDAY, name) for day, name in off.items()}
    for day in workdays:
        wanted[day] = (DayKind.WORKDAY, _("Make-up working day"))
    existing = {
        row.date: row
        for row in CalendarDay.objects.filter(
            calendar=calendar, date__year=year
        ).select_for_update()
    }
    created, updated, removed = [], [], []
    for day, (kind, name) in sorted(wanted.items()):
        row = existing.get(day)
        if row is None:
            created.append(
                CalendarDay(
                    calendar=calendar,
                    date=day,
                    kind=kind,
                    name=name[:120],
                    source=DaySource.PACKAGE,
                )
            )
        elif row.source == DaySource.PACKAGE and (row.kind, row.name) != (kind, name[:120]):
            row.kind, row.name = kind, name[:120]
            updated.append(row)
    for day, row in existing.items():
        # A day the package no longer lists (a corrected schedule) goes, unless entered by hand.
        if row.source == DaySource.PACKAGE and day not in wanted:
            removed.append(row.pk)
    CalendarDay.objects.bulk_create(created)
    CalendarDay.objects.bulk_update(updated, ["kind", "name"])
    CalendarDay.objects.filter(pk__in=removed).delete()
    result = {
        "year": year,
        "created": len(created),
        "updated": len(updated),
        "removed": len(removed),
    }
    if created or updated or removed:
        calendar_touch(calendar=calendar)
        audit_record(action="calendar.holidays_imported", actor=actor, target=calendar, data=result)
    return result


@transaction.atomic
def calendar_day_set(
    *, calendar: BusinessCalendar, date: dt.date, kind: str, name: str = "", actor: Any
) -> CalendarDay:
    """Add or override one day by hand (e.g. a year announced after the installed package)."""
    if kind not in DayKind.values:
        raise ApplicationError(_("Choose holiday or make-up working day."))
    row, _created = CalendarDay.objects.update_or_create(
        calendar=calendar,
        date=date,
        defaults={"kind": kind, "name": name.strip()[:120], "source": DaySource.MANUAL},
    )
    calendar_touch(calendar=calendar)
    audit_record(
        action="calendar.day_set",
        actor=actor,
        target=calendar,
        data={"date": date.isoformat(), "kind": kind},
    )
    return row
