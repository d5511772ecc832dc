"""The supervisors' ticket reports (issue 20, point 4), registered in core.reports.

Ticket volume, SLA attainment, backlog by age, reopen rate and customer satisfaction. Each
`compute` reads through tickets.report_selectors (aggregates in SQL, a fixed number of
queries whatever the period) and returns plain Tables; servicedesk draws them (filters,
charts, tables, CSV) without knowing how any figure is read. The viewer's region scope is
already in `Filters.region_ids`.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import reports
from core.report_periods import bucket_column
from core.reports import (
    BARS,
    DATETIME,
    DECIMAL,
    HBARS,
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
from tickets import report_selectors as rs
from tickets.models import Priority

TICKETS = gettext_lazy("Tickets")
SERVICE_LEVEL = gettext_lazy("Service level")

VOLUME_BY = [
    ("channel", gettext_lazy("Channel")),
    ("region", gettext_lazy("Region")),
    ("product_line", gettext_lazy("Product line")),
    ("fault_code", gettext_lazy("Fault code")),
]
SLA_BY = [
    ("queue", gettext_lazy("Queue")),
    ("priority", gettext_lazy("Priority")),
    ("agent", gettext_lazy("Agent")),
]
AGE_LABELS = {
    "under_1d": gettext_lazy("Under 1 day"),
    "1_3d": gettext_lazy("1–3 days"),
    "3_7d": gettext_lazy("3–7 days"),
    "7_30d": gettext_lazy("7–30 days"),
    "over_30d": gettext_lazy("Over 30 days"),
}


def _by(filters: Filters, dimensions: list[tuple[str, Any]]) -> tuple[str, str]:
    """The chosen dimension and its label; the first one when none (or an unknown) is chosen."""
    chosen = dict(dimensions)
    key = filters.by if filters.by in chosen else dimensions[0][0]
    return key, str(chosen[key])


def _bucket_column(filters: Filters) -> Column:
    return bucket_column(filters.period)


# ------------------------------------------------------------------- ticket volume


def volume(user: Any, filters: Filters) -> list[Table]:
    by, by_label = _by(filters, VOLUME_BY)
    rows = rs.volume_by(filters, by)
    total = rs.totals(rows, "created")["created"]
    for row in rows:
        row["share"] = percent(row["created"], total)
    return [
        Table(
            key="by",
            title=_("Tickets opened by %(dimension)s") % {"dimension": by_label.lower()},
            columns=[
                Column("label", by_label),
                Column("created", _("Tickets opened"), INT),
                Column("share", _("Share"), PERCENT),
                Column("open", _("Still open"), INT),
            ],
            rows=rows,
            chart=Chart(HBARS, x="label", series=["created"], unit=_("tickets")),
            empty=_("No tickets were opened in this period."),
            note=_("Merged duplicates are not counted."),
        ),
        Table(
            key="trend",
            title=_("Tickets opened over the period"),
            columns=[_bucket_column(filters), Column("created", _("Tickets opened"), INT)],
            rows=rs.volume_trend(filters) if total else [],
            chart=Chart(LINES, x="bucket", series=["created"], unit=_("tickets")),
            empty=_("No tickets were opened in this period."),
        ),
    ]


# ------------------------------------------------------------------- SLA attainment


def _attainment(row: dict[str, Any]) -> dict[str, Any]:
    row["first_response_pct"] = percent(row["first_response_met"], row["first_response_verdicts"])
    row["resolution_pct"] = percent(row["resolution_met"], row["resolution_verdicts"])
    return row


def sla_attainment(user: Any, filters: Filters) -> list[Table]:
    by, by_label = _by(filters, SLA_BY)
    rows = [_attainment(row) for row in rs.sla_by(filters, by)]
    if rows:
        counts = (
            "tickets",
            "first_response_verdicts",
            "first_response_met",
            "resolution_verdicts",
            "resolution_met",
        )
        rows.append(_attainment({"key": "", "label": _("All"), **rs.totals(rows, *counts)}))
    return [
        Table(
            key="by",
            title=_("SLA attainment by %(dimension)s") % {"dimension": by_label.lower()},
            columns=[
                Column("label", by_label),
                Column("tickets", _("Tickets opened"), INT),
                Column("first_response_verdicts", _("First responses measured"), INT),
                Column("first_response_pct", _("First response met"), PERCENT),
                Column("resolution_verdicts", _("Resolutions measured"), INT),
                Column("resolution_pct", _("Resolution met"), PERCENT),
            ],
            rows=rows,
            chart=Chart(BARS, x="label", series=["first_response_pct", "resolution_pct"], unit="%"),
            empty=_("No tickets were opened in this period."),
            note=_(
                "Over the tickets opened in the period. A ticket counts for first response "
                "once an agent has answered it publicly, for resolution once it was resolved "
                "under an SLA policy; a ticket still waiting counts in neither."
            ),
        )
    ]


# ------------------------------------------------------------------- backlog by age


def backlog(user: Any, filters: Filters) -> list[Table]:
    found = rs.backlog_at(filters)
    priorities = Priority.values
    rows = []
    for key, by_priority in found.items():
        row: dict[str, Any] = {"age": str(AGE_LABELS[key])}
        row.update({f"p{priority}": by_priority[priority] for priority in priorities})
        row["total"] = sum(by_priority.values())
        rows.append(row)
    if not any(row["total"] for row in rows):
        rows = []
    return [
        Table(
            key="ages",
            title=_("Open tickets at the end of the period, by age"),
            columns=[
                Column("age", _("Age")),
                *(Column(f"p{p}", f"P{p}", INT) for p in priorities),
                Column("total", _("All"), INT),
            ],
            rows=rows,
            chart=Chart(BARS, x="age", series=[f"p{p}" for p in priorities], unit=_("tickets")),
            empty=_("No ticket was open at the end of this period."),
            note=_(
                "Read from the tickets' dates now: a ticket resolved by then but reopened "
                "since counts as open."
            ),
        )
    ]


# ------------------------------------------------------------------- reopen rate


def _trend_and_total(
    filters: Filters,
    *,
    title: str,
    columns: list[Column],
    rows: list[dict[str, Any]],
    total: dict[str, Any],
    counted: int,
    series: list[str],
    empty: str,
    note: str = "",
) -> list[Table]:
    """A rate's trend (one row a bucket, drawn as lines in %) and its whole-period row, with
    the same columns; both empty when the period counted nothing (`counted` is 0), so the
    page says `empty` rather than drawing a row of zeros."""
    return [
        Table(
            key="trend",
            title=title,
            columns=[_bucket_column(filters), *columns],
            rows=rows if counted else [],
            chart=Chart(LINES, x="bucket", series=series, unit="%"),
            empty=empty,
            note=note,
        ),
        Table(
            key="total",
            title=_("Whole period"),
            columns=columns,
            rows=[total] if counted else [],
            empty=empty,
        ),
    ]


def reopen_rate(user: Any, filters: Filters) -> list[Table]:
    rows = rs.reopens_trend(filters)
    for row in rows:
        row["rate"] = percent(row["reopened"], row["resolved"])
    total = rs.totals(rows, "resolved", "reopened")
    total["rate"] = percent(total["reopened"], total["resolved"])
    columns = [
        Column("resolved", _("Tickets resolved"), INT),
        Column("reopened", _("Of them reopened"), INT),
        Column("rate", _("Reopen rate"), PERCENT),
    ]
    note = _(
        "A ticket counts in the period of its latest resolution, and as reopened if it was "
        "ever reopened. Reopens made before the desk began counting them are not counted."
    )
    return _trend_and_total(
        filters,
        title=_("Reopen rate over the period"),
        columns=columns,
        rows=rows,
        total=total,
        counted=total["resolved"],
        series=["rate"],
        empty=_("No tickets were resolved in this period."),
        note=note,
    )


# ------------------------------------------------------------------- satisfaction


def _scores(row: dict[str, Any]) -> dict[str, Any]:
    answered = row["answered"]
    row["average"] = round(row["rating_sum"] / answered, 1) if answered else None
    row["satisfied_pct"] = percent(row["satisfied"], answered)
    return row


def satisfaction(user: Any, filters: Filters) -> list[Table]:
    rows = [_scores(row) for row in rs.satisfaction_trend(filters)]
    total = _scores(rs.totals(rows, "answered", "rating_sum", "satisfied"))
    columns = [
        Column("answered", _("Surveys answered"), INT),
        Column("average", _("Average rating"), DECIMAL),
        Column("satisfied_pct", _("Rated 4 or 5"), PERCENT),
    ]
    empty = _("No survey was answered in this period.")
    return [
        *_trend_and_total(
            filters,
            title=_("Satisfaction over the period"),
            columns=columns,
            rows=rows,
            total=total,
            counted=total["answered"],
            series=["satisfied_pct"],
            empty=empty,
        ),
        Table(
            key="comments",
            title=_("Latest comments"),
            columns=[
                Column("answered_at", _("Answered"), DATETIME),
                Column("rating", _("Rating"), INT),
                Column("reference", _("Ticket")),
                Column("queue", _("Queue")),
                Column("comment", _("Comment"), TEXT),
            ],
            rows=rs.latest_comments(filters),
            empty=_("No comments in this period."),
            note=_("Up to 50 comments, newest first, from the last 500 answers of the period."),
        ),
    ]


REPORTS = [
    Report(
        key="tickets-volume",
        title=gettext_lazy("Ticket volume"),
        description=gettext_lazy(
            "Tickets opened in the period by channel, region, product line or fault code, "
            "how many are still open, and the trend."
        ),
        group=TICKETS,
        compute=volume,
        dimensions=VOLUME_BY,
        order=10,
    ),
    Report(
        key="tickets-backlog",
        title=gettext_lazy("Backlog by age"),
        description=gettext_lazy(
            "Tickets still open at the end of the period, by how long they had been open "
            "and by priority."
        ),
        group=TICKETS,
        compute=backlog,
        order=20,
    ),
    Report(
        key="tickets-sla",
        title=gettext_lazy("SLA attainment"),
        description=gettext_lazy(
            "Share of first responses and resolutions within their SLA targets, by queue, "
            "priority or agent, for the tickets opened in the period."
        ),
        group=SERVICE_LEVEL,
        compute=sla_attainment,
        dimensions=SLA_BY,
        order=30,
    ),
    Report(
        key="tickets-reopens",
        title=gettext_lazy("Reopen rate"),
        description=gettext_lazy(
            "Share of the tickets resolved in the period that were reopened after a resolution."
        ),
        group=SERVICE_LEVEL,
        compute=reopen_rate,
        order=40,
    ),
    Report(
        key="tickets-satisfaction",
        title=gettext_lazy("Customer satisfaction"),
        description=gettext_lazy(
            "Surveys answered, the average rating and the share of 4 and 5 ratings over the "
            "period, and the latest comments."
        ),
        group=SERVICE_LEVEL,
        compute=satisfaction,
        order=50,
    ),
]


def register() -> None:
    for report in REPORTS:
        reports.register(report)
