"""The supervisors' report of the hotlines' answer rate, from the phone system's call events
(core.reports).

Three queries whatever the period: the hotline components (for each line's region and name),
the calls per line and the calls per bucket of the trend, counted in SQL. The answer rate is
the one the overload check and the Prometheus alert judge by (intake.selectors.answer_rates):
calls answered over calls concluded (answered, or missed: abandoned or ended unanswered); a
call still ringing is counted as a call but not yet in the rate. The reference line is the
same setting, TELEPHONY_ANSWER_RATE_THRESHOLD (90 %).

Region: the line "east" is the status component "hotline-east", whose region is the line's.
A line without a component, or whose component is nationwide (no region), belongs to no
region: it counts when every region is shown (None) and in no regional view, so a regional
supervisor never sees calls that may be other regions' customers.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from core import report_periods
from core.reports import (
    BARS,
    DECIMAL,
    INT,
    LINES,
    PERCENT,
    TEXT,
    Chart,
    Column,
    Filters,
    Report,
    Table,
    percent,
)
from intake.models import Call
from intake.selectors import HOTLINE_PREFIX, line_of_component
from status.selectors import components_by_key

KEY = "hotline-answer-rate"

ANSWERED = Q(answered_at__isnull=False)
MISSED = Q(answered_at__isnull=True) & (Q(abandoned=True) | Q(ended_at__isnull=False))
TO_ANSWER = ExpressionWrapper(F("answered_at") - F("started_at"), output_field=DurationField())


def _figures() -> dict[str, Any]:
    return {
        "calls": Count("pk"),
        "answered": Count("pk", filter=ANSWERED),
        "missed": Count("pk", filter=MISSED),
        "to_answer": Avg(TO_ANSWER),
    }


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if hasattr(value, "total_seconds"):
        return round(value.total_seconds(), 1)
    return round(float(value) / 1_000_000, 1)  # a backend that hands back microseconds


def _row(figures: dict[str, Any]) -> dict[str, Any]:
    answered, missed = figures.get("answered") or 0, figures.get("missed") or 0
    return {
        "calls": figures.get("calls") or 0,
        "answered": answered,
        "missed": missed,
        "answer_rate": percent(answered, answered + missed),
        "to_answer": _seconds(figures.get("to_answer")),
    }


def target() -> float:
    """The desk's answer-rate threshold in percent (0.9 -> 90.0)."""
    return round(settings.TELEPHONY_ANSWER_RATE_THRESHOLD * 100, 1)


def calls_in(filters: Filters, lines: list[str] | None) -> QuerySet[Call]:
    calls = Call.objects.filter(
        started_at__gte=filters.period.start, started_at__lt=filters.period.end
    )
    return calls if lines is None else calls.filter(line__in=lines)


def compute(user: Any, filters: Filters) -> list[Table]:
    figure_columns = [
        Column("calls", _("Calls"), INT),
        Column("answered", pgettext("calls", "Answered"), INT),
        Column("missed", _("Missed"), INT),
        Column("answer_rate", _("Answer rate %"), PERCENT),
        Column("to_answer", _("Average time to answer (s)"), DECIMAL),
    ]
    per_line = Table(
        key="lines",
        title=_("Per line"),
        columns=[
            Column("line", _("Line"), TEXT),
            Column("name", _("Hotline"), TEXT),
            *figure_columns,
        ],
        chart=Chart(kind=BARS, x="line", series=["answer_rate"], target=target(), unit="%"),
        empty=_("No calls in this period."),
        note=_("Missed: abandoned, or ended without an answer. Calls still ringing are not rated."),
    )
    trend = Table(
        key="trend",
        title=_("Answer rate per period"),
        columns=[report_periods.bucket_column(filters.period), *figure_columns],
        chart=Chart(kind=LINES, x="bucket", series=["answer_rate"], target=target(), unit="%"),
        empty=_("No calls in this period."),
    )
    if filters.region_ids == []:
        return [per_line, trend]
    hotlines = {
        line_of_component(key): component
        for key, component in components_by_key(prefix=HOTLINE_PREFIX).items()
    }
    lines = None
    if filters.region_ids is not None:
        chosen = set(filters.region_ids)
        lines = sorted(line for line, c in hotlines.items() if c.region_id in chosen)
    calls = calls_in(filters, lines)
    per_line.rows = [
        {
            "line": row["line"],
            "name": hotlines[row["line"]].name if row["line"] in hotlines else "",
            **_row(row),
        }
        for row in calls.values("line").annotate(**_figures()).order_by("line")
    ]
    trend.rows = (
        [
            {"bucket": row["bucket"], **_row(row)}
            for row in report_periods.trend(calls, "started_at", filters.period, {}, **_figures())
        ]
        if per_line.rows
        else []
    )  # no call at all: the empty text, not a line of zeros
    return [per_line, trend]


REPORT = Report(
    key=KEY,
    title=gettext_lazy("Hotline answer rate"),
    description=gettext_lazy(
        "Calls to each hotline in the period from the phone system's events: answered, missed "
        "(abandoned or ended unanswered) and the answer rate of the concluded calls, against "
        "the desk's threshold. A line counts in a region through its status component "
        "(hotline-east is the line east); a line with no regional component only when every "
        "region is shown."
    ),
    group=gettext_lazy("Chat and phone"),
    compute=compute,
    order=50,
)
