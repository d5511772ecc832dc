"""Ticket references, WD-<year>-NNNNNN: one PostgreSQL sequence per year, a counter row elsewhere.

On PostgreSQL the number is `nextval` of the year's sequence (`tickets_reference_<year>`).
A sequence is never rolled back and never locked until commit, so drawing it inside the
opening transaction costs nothing to the other openings, and the opening can draw it in the
same statement as its other reads (tickets.services.assignment.draw_new). An opening that
fails after drawing its number leaves a gap, as before.

Elsewhere (SQLite, one writer at a time) the year's `TicketCounter` row is incremented.
The sequence of a year is created the first time a process draws a number in that year
(CREATE SEQUENCE IF NOT EXISTS, starting after the year's counter row, so a desk migrated
from the counter rows goes on where it stopped); the migration creates those of the years
that already have tickets.
"""

from __future__ import annotations

import datetime as dt
import threading

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from tickets.models import TicketCounter

_ready_years: set[int] = set()
_ready_lock = threading.Lock()


def year_of(now: dt.datetime) -> int:
    return timezone.localtime(now).year


def sequence_name(year: int) -> str:
    return f"tickets_reference_{int(year)}"


def format_reference(year: int, number: int) -> str:
    return f"WD-{year}-{number:06d}"


def uses_sequence() -> bool:
    return connection.vendor == "postgresql"


def ensure_sequence(year: int) -> str:
    """Create the year's sequence once per process (a no-op after that); return its name."""
    name = sequence_name(year)
    if year in _ready_years:
        return name
    last = TicketCounter.objects.filter(year=year).values_list("last", flat=True).first() or 0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE SEQUENCE IF NOT EXISTS {name} AS bigint START WITH {int(last) + 1}"
            )
    except DatabaseError:
        # Another process created it at the same instant (IF NOT EXISTS is not race-free).
        pass

    def ready() -> None:
        with _ready_lock:
            _ready_years.add(year)

    if connection.in_atomic_block:
        # Inside a caller's transaction the sequence exists only once that commits: remember
        # it then, so a rollback (which drops it again) leaves the next opening to create it.
        transaction.on_commit(ready)
    else:
        ready()
    return name


def forget_sequences() -> None:
    """Forget which sequences exist (tests that drop the database between them)."""
    with _ready_lock:
        _ready_years.clear()


def next_reference(now: dt.datetime) -> str:
    """Draw the next reference of `now`'s year (one statement)."""
    year = year_of(now)
    if uses_sequence():
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [ensure_sequence(year)])
            return format_reference(year, cursor.fetchone()[0])
    table = TicketCounter._meta.db_table
    sql = f"UPDATE {table} SET last = last + 1 WHERE year = %s RETURNING last"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [year])
        row = cursor.fetchone()
        if row is None:
            TicketCounter.objects.bulk_create([TicketCounter(year=year)], ignore_conflicts=True)
            cursor.execute(sql, [year])
            row = cursor.fetchone()
    return format_reference(year, row[0])


def counter_set(year: int, last: int) -> None:
    """Make the next reference of `year` be last + 1 (a data load that wrote references)."""
    TicketCounter.objects.update_or_create(year=year, defaults={"last": last})
    if uses_sequence():
        name = ensure_sequence(year)
        with connection.cursor() as cursor:
            if last > 0:
                cursor.execute("SELECT setval(%s, %s, true)", [name, last])
            else:
                cursor.execute("SELECT setval(%s, 1, false)", [name])


def counter_last(year: int) -> int:
    """The last reference number drawn in `year` (0: none)."""
    if uses_sequence():
        name = ensure_sequence(year)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT last_value, is_called FROM {name}")  # noqa: S608
            value, called = cursor.fetchone()
        return int(value) if called else int(value) - 1
    return TicketCounter.objects.filter(year=year).values_list("last", flat=True).first() or 0


def reset_sequences() -> None:
    """Drop every year's sequence and forget them (tests: each starts numbering at 1 again;
    inside a test's transaction the drop is rolled back with it)."""
    if uses_sequence():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sequencename FROM pg_sequences "
                "WHERE sequencename LIKE 'tickets_reference_%%'"
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP SEQUENCE IF EXISTS {name}")
    forget_sequences()
