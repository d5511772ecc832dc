"""Supervisors' reports: the registry the report pages are drawn from.

Ticket volume, SLA attainment, chat waits, hotline answer rates, incidents and compensation
belong to apps of different layers; servicedesk (the top) draws the pages (filters, chart,
table, CSV) but must not know how any figure is read. So each app registers its reports here
in its AppConfig.ready(), as it registers its home blocks in core.home: a report's `compute`
reads through its own app's selectors (aggregates in SQL) and returns plain Tables.

A report costs a fixed number of queries whatever the period or the data (GROUP BY in the
database, never a loop over rows), so a year of 100,000 tickets draws as fast as a week.

The viewer's region scope is applied before a report runs: `Filters.region_ids` is the
intersection of the regions the viewer may see and the region they chose (None: every region,
an empty list: none, so the report is empty). A report filters on it and nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# How a period is cut into points of a trend.
DAY, WEEK, MONTH = "day", "week", "month"

# Column kinds: how a value is shown (and written to CSV).
TEXT, INT, PERCENT, DECIMAL, MINUTES, DATETIME, DATE, YEAR_MONTH = (
    "text",
    "int",
    "percent",
    "decimal",
    "minutes",
    "datetime",
    "date",
    "year-month",  # a date that stands for its month ("Dec 2026", CSV "2026-12")
)

# Chart kinds the pages can draw (servicedesk/charts.py).
BARS, HBARS, LINES = "bars", "hbars", "lines"


@dataclass(frozen=True)
class Period:
    """[start, end) in aware datetimes, and the bucket a trend is cut into."""

    start: dt.datetime
    end: dt.datetime
    bucket: str = DAY


@dataclass(frozen=True)
class Filters:
    period: Period
    # None: every region; []: none (an agent without regions sees an empty report).
    region_ids: list[int] | None = None
    # The chosen dimension ("by channel"), one of the report's `dimensions`, else "".
    by: str = ""


@dataclass
class Column:
    key: str
    label: str
    kind: str = TEXT


@dataclass
class Chart:
    """What to draw from a table: categories from column `x`, one series per column in
    `series`; `target` draws a reference line (the 90 % answer rate), `unit` labels the axis."""

    kind: str
    x: str
    series: list[str]
    target: float | None = None
    unit: str = ""


@dataclass
class Table:
    """One table of a report (a report may have several: a trend and the latest comments)."""

    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    chart: Chart | None = None
    empty: str = ""
    note: str = ""


@dataclass
class Report:
    key: str
    title: Any  # a lazy translation
    description: Any
    group: Any
    compute: Callable[[Any, Filters], list[Table]]
    # Choices of a "by" selector: [(key, label)]; the first is the default.
    dimensions: list[tuple[str, Any]] = field(default_factory=list)
    order: int = 100


_reports: dict[str, Report] = {}


def register(report: Report) -> None:
    _reports[report.key] = report


def unregister(key: str) -> None:
    """Take a report off the registry (a test's own report, once the test is done)."""
    _reports.pop(key, None)


def all_reports() -> list[Report]:
    return sorted(_reports.values(), key=lambda report: (report.order, report.key))


def get(key: str) -> Report | None:
    return _reports.get(key)


def percent(part: int | None, whole: int | None) -> float | None:
    """part/whole as a percentage with one decimal, None when there is nothing to divide."""
    if not whole:
        return None
    return round(100.0 * (part or 0) / whole, 1)
