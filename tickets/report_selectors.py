"""Reads behind the supervisors' ticket reports (tickets.reports, drawn through core.reports).

Every figure is an aggregate computed by the database (GROUP BY, conditional counts), so a
report costs the same few queries for a week of ten tickets as for a year of 100,000: one
grouped query per table, and at most one more for the names of the agents in it (their names
are encrypted, so they are read by id and never grouped or sorted in SQL).

The scope is `Filters.region_ids`, already cut to what the viewer may see (core.reports):
None is every region, an empty list nothing. A ticket's region is its organisation's.
Trends are cut into days, weeks or months in the current time zone (the viewer's), and every
bucket of the period has a row, zero when nothing happened, so a chart's line has no gaps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from core.report_periods import trend
from core.reports import Filters
from core.translations import in_reader_language
from equipment.models import ProductLine
from tickets.models import ACTIVE_STATUSES, Channel, Priority, Survey, Ticket

# Ages of the backlog at the end of the period: (key, lower bound inclusive, upper bound).
AGES: list[tuple[str, dt.timedelta, dt.timedelta | None]] = [
    ("under_1d", dt.timedelta(0), dt.timedelta(days=1)),
    ("1_3d", dt.timedelta(days=1), dt.timedelta(days=3)),
    ("3_7d", dt.timedelta(days=3), dt.timedelta(days=7)),
    ("7_30d", dt.timedelta(days=7), dt.timedelta(days=30)),
    ("over_30d", dt.timedelta(days=30), None),
]

# The latest answers searched for comments: a comment is encrypted, so "has a comment" cannot
# be asked in SQL; the latest answers are read and the first ones with a comment kept.
COMMENT_SCAN = 500


def _choice_label(choices: Any, value: Any) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


# ------------------------------------------------------------------- scope and periods


def tickets_in(region_ids: list[int] | None) -> QuerySet[Ticket]:
    """Every ticket of the regions (None: all regions; []: none), unordered for grouping."""
    tickets = Ticket.objects.order_by()
    if region_ids is not None:
        tickets = tickets.filter(organisation__region_id__in=region_ids)
    return tickets


def created_in(filters: Filters) -> QuerySet[Ticket]:
    """Tickets opened in [start, end) of the regions; a merged duplicate is not a ticket of
    its own (its messages moved to the ticket it was merged into), so it is left out."""
    period = filters.period
    return tickets_in(filters.region_ids).filter(
        created_at__gte=period.start, created_at__lt=period.end, merged_into__isnull=True
    )


# ------------------------------------------------------------------- dimensions


@dataclass(frozen=True)
class Dimension:
    """A "by" of a report: what to group tickets by, and how a group is named."""

    fields: tuple[str, ...]
    label: Callable[[dict[str, Any]], str]
    # Names read after the grouped query, in one query for all groups (agents).
    names: Callable[[list[dict[str, Any]]], None] | None = None


def _region_label(row: dict[str, Any]) -> str:
    return in_reader_language(
        row["organisation__region__name_en"], row["organisation__region__name_zh"]
    )


def _product_line_label(row: dict[str, Any]) -> str:
    value = row["unit__machine_model__product_line"]
    return _choice_label(ProductLine, value) if value else _("No machine")


def _fault_code_label(row: dict[str, Any]) -> str:
    code = row["fault_report__fault_code__code"]
    if code is None:
        return _("No fault code")
    title = in_reader_language(
        row["fault_report__fault_code__title_en"], row["fault_report__fault_code__title_zh"]
    )
    return f"{code} {title}".strip()


def _queue_label(row: dict[str, Any]) -> str:
    if row["queue_id"] is None:
        return _("No queue")
    return in_reader_language(row["queue__name"], row["queue__name_zh"])


def _agent_names(rows: list[dict[str, Any]]) -> None:
    """Name each agent group the way the desk names staff (full name, else e-mail): one
    query for all of them; no assignee is "Unassigned"."""
    people = account_selectors.users_by_id(row["assignee_id"] for row in rows)
    for row in rows:
        person = people.get(row["assignee_id"])
        if row["assignee_id"] is None:
            row["label"] = _("Unassigned")
        elif person is None:
            row["label"] = _("person #%(id)s") % {"id": row["assignee_id"]}
        else:
            row["label"] = person.full_name or person.email


DIMENSIONS: dict[str, Dimension] = {
    "channel": Dimension(("channel",), lambda row: _choice_label(Channel, row["channel"])),
    "region": Dimension(
        (
            "organisation__region_id",
            "organisation__region__name_en",
            "organisation__region__name_zh",
        ),
        _region_label,
    ),
    "product_line": Dimension(("unit__machine_model__product_line",), _product_line_label),
    "fault_code": Dimension(
        (
            "fault_report__fault_code_id",
            "fault_report__fault_code__code",
            "fault_report__fault_code__title_en",
            "fault_report__fault_code__title_zh",
        ),
        _fault_code_label,
    ),
    "queue": Dimension(("queue_id", "queue__name", "queue__name_zh"), _queue_label),
    "priority": Dimension(("priority",), lambda row: _choice_label(Priority, row["priority"])),
    "agent": Dimension(("assignee_id",), lambda row: "", names=_agent_names),
}


def _grouped(queryset: QuerySet, by: str, **aggregates: Any) -> list[dict[str, Any]]:
    """One GROUP BY query over the dimension's fields; each row gets its `key` (the grouped
    value, None for "none") and `label` in the reader's language."""
    dimension = DIMENSIONS[by]
    rows = list(queryset.values(*dimension.fields).annotate(**aggregates).order_by())
    for row in rows:
        row["key"] = row[dimension.fields[0]]
        row["label"] = dimension.label(row)
    if dimension.names is not None and rows:
        dimension.names(rows)
    for row in rows:
        for field in dimension.fields:
            row.pop(field, None)
    return rows


# ------------------------------------------------------------------- the reports' reads


def volume_by(filters: Filters, by: str) -> list[dict[str, Any]]:
    """Tickets opened in the period per value of the dimension (`created`), and how many of
    them are still open now (`open`): one query, most tickets first."""
    rows = _grouped(
        created_in(filters),
        by,
        created=Count("pk"),
        open=Count("pk", filter=Q(status__in=ACTIVE_STATUSES)),
    )
    return sorted(rows, key=lambda row: (-row["created"], row["label"].casefold()))


def volume_trend(filters: Filters) -> list[dict[str, Any]]:
    """Tickets opened per bucket of the period: one query."""
    return trend(
        created_in(filters), "created_at", filters.period, {"created": 0}, created=Count("pk")
    )


def sla_by(filters: Filters, by: str) -> list[dict[str, Any]]:
    """Per value of the dimension, over the tickets opened in the period: how many have a
    first-response verdict and how many of those met it, the same for resolution.

    A verdict is written by the SLA engine (tickets.services.sla): first response at the
    first public agent reply, resolution when the ticket is resolved (or closed unresolved)
    under a policy; a reopen takes the resolution verdict back until it is resolved again.
    Tickets still waiting have no verdict and count in neither. One query (and one for the
    agents' names)."""
    rows = _grouped(
        created_in(filters),
        by,
        tickets=Count("pk"),
        first_response_verdicts=Count("pk", filter=Q(first_response_met__isnull=False)),
        first_response_met=Count("pk", filter=Q(first_response_met=True)),
        resolution_verdicts=Count("pk", filter=Q(resolution_met__isnull=False)),
        resolution_met=Count("pk", filter=Q(resolution_met=True)),
    )
    if by == "priority":
        return sorted(rows, key=lambda row: row["key"])
    return sorted(rows, key=lambda row: (row["key"] is None, row["label"].casefold()))


def backlog_at(filters: Filters) -> dict[str, dict[int, int]]:
    """Tickets open at the end of the period, per age at that moment and priority:
    {age key: {priority: count}}. One query of conditional counts.

    Open at the end: opened before it, and neither resolved nor closed before it (a ticket
    resolved later was still open then). Read from the tickets' dates as they are now: a
    ticket reopened since is counted by its last resolution, its earlier one is not kept."""
    end = filters.period.end
    open_then = (
        tickets_in(filters.region_ids)
        .filter(created_at__lt=end)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=end))
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=end))
    )
    counts = {}
    for key, younger, older in AGES:
        age = Q(created_at__lte=end - younger)
        if older is not None:
            age &= Q(created_at__gt=end - older)
        for priority in Priority.values:
            counts[f"{key}__{priority}"] = Count("pk", filter=age & Q(priority=priority))
    found = open_then.aggregate(**counts)
    return {
        key: {priority: found[f"{key}__{priority}"] or 0 for priority in Priority.values}
        for key, _younger, _older in AGES
    }


def reopens_trend(filters: Filters) -> list[dict[str, Any]]:
    """Per bucket: tickets resolved in it (by their latest resolution) and how many of those
    were reopened at least once. One query."""
    period = filters.period
    resolved = tickets_in(filters.region_ids).filter(
        resolved_at__gte=period.start, resolved_at__lt=period.end, merged_into__isnull=True
    )
    return trend(
        resolved,
        "resolved_at",
        period,
        {"resolved": 0, "reopened": 0},
        resolved=Count("pk"),
        reopened=Count("pk", filter=Q(reopened_count__gt=0)),
    )


def surveys_answered_in(filters: Filters) -> QuerySet[Survey]:
    period = filters.period
    surveys = Survey.objects.order_by().filter(
        answered_at__gte=period.start, answered_at__lt=period.end, rating__isnull=False
    )
    if filters.region_ids is not None:
        surveys = surveys.filter(ticket__organisation__region_id__in=filters.region_ids)
    return surveys


def satisfaction_trend(filters: Filters) -> list[dict[str, Any]]:
    """Per bucket of answering: surveys answered, the sum of their ratings (the average is
    the sum over the answers, so buckets add up to the period's) and the 4 and 5 ratings.
    One query."""
    return trend(
        surveys_answered_in(filters),
        "answered_at",
        filters.period,
        {"answered": 0, "rating_sum": 0, "satisfied": 0},
        answered=Count("pk"),
        rating_sum=Sum("rating"),
        satisfied=Count("pk", filter=Q(rating__gte=4)),
    )


def latest_comments(filters: Filters, *, limit: int = 50) -> list[dict[str, Any]]:
    """The latest comments answered in the period, newest first: when, the rating, the
    ticket's reference and the survey's queue. One query (of at most COMMENT_SCAN answers:
    comments are encrypted, so the empty ones are skipped here, not in SQL)."""
    answers = (
        surveys_answered_in(filters)
        .select_related("ticket", "queue")
        .only(
            "answered_at",
            "rating",
            "comment",
            "ticket__reference",
            "queue__name",
            "queue__name_zh",
        )
        .order_by("-answered_at", "-pk")[:COMMENT_SCAN]
    )
    rows = []
    for survey in answers:
        comment = (survey.comment or "").strip()
        if not comment:
            continue
        queue = survey.queue
        rows.append(
            {
                "answered_at": survey.answered_at,
                "rating": survey.rating,
                "reference": survey.ticket.reference,
                "queue": in_reader_language(queue.name, queue.name_zh) if queue else "",
                "comment": comment,
            }
        )
        if len(rows) == limit:
            break
    return rows


def totals(rows: Iterable[dict[str, Any]], *keys: str) -> dict[str, int]:
    """The sum of each count over the rows (a report's "All" line, without another query)."""
    found = dict.fromkeys(keys, 0)
    for row in rows:
        for key in keys:
            found[key] += row.get(key) or 0
    return found
