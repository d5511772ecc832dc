"""How a report's values are shown on the page and written to CSV, by Column.kind.

The page formats for the reader (their language's separators, the desk's time zone, "1 h 05
min"); the CSV keeps raw numbers a spreadsheet can sum (93.4, 65.0), because a formatted
"93.4 %" or "1 h 05 min" is text to Excel. Both come from here, so the chart's hover labels,
the table and the file never disagree on what a value is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from core import reports

NONE = "—"


def _number(value: Any, places: int) -> str:
    return formats.number_format(value, places, use_l10n=True, force_grouping=True)


def minutes_text(value: float) -> str:
    """65.4 -> "1 h 05 min"; 45 -> "45 min"; a day or more stays in hours ("30 h 00 min")."""
    total = round(float(value))
    sign = "-" if total < 0 else ""
    total = abs(total)
    if total < 60:
        return sign + _("%(minutes)d min") % {"minutes": total}
    return sign + _("%(hours)d h %(minutes)02d min") % {"hours": total // 60, "minutes": total % 60}


def _local(value: dt.datetime) -> dt.datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def display(kind: str, value: Any) -> str:
    """A value as the page shows it."""
    if value is None or value == "":
        return NONE
    if kind == reports.INT:
        return _number(value, 0)
    if kind == reports.PERCENT:
        return _("%(value)s %%") % {"value": _number(value, 1)}
    if kind == reports.DECIMAL:
        return _number(value, 2)
    if kind == reports.MINUTES:
        return minutes_text(value)
    if kind == reports.DATETIME and isinstance(value, dt.datetime):
        return formats.date_format(_local(value), "SHORT_DATETIME_FORMAT")
    if kind == reports.YEAR_MONTH and isinstance(value, dt.date):
        return formats.date_format(value, "YEAR_MONTH_FORMAT")
    if kind in (reports.DATE, reports.DATETIME) and isinstance(value, dt.date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    return str(value)


def csv_value(kind: str, value: Any) -> str:
    """A value as the CSV holds it: numbers bare (no grouping, a point for decimals), dates ISO
    in the desk's time zone. Every cell still goes through core.spreadsheet.csv_cell."""
    if value is None:
        return ""
    if kind == reports.INT and isinstance(value, int | float | Decimal):
        return str(int(value))
    if kind in (reports.PERCENT, reports.MINUTES) and isinstance(value, int | float | Decimal):
        return f"{float(value):.1f}"
    if kind == reports.DECIMAL and isinstance(value, int | float | Decimal):
        return f"{float(value):.2f}"
    if isinstance(value, dt.datetime):
        return _local(value).strftime("%Y-%m-%d %H:%M")
    if kind == reports.YEAR_MONTH and isinstance(value, dt.date):
        return value.strftime("%Y-%m")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def number(value: Any) -> float | None:
    """A value as a chart plots it (None, or anything that is no number, is not drawn)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None
