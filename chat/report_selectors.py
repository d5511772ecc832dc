"""The supervisors' report on chat waits and abandoned chats (core.reports).

Read in SQL, two grouped queries whatever the period: the chats opened in the period per
bucket of the trend and per queue. A chat's wait runs from its opening to the moment an agent
first took it (`accepted_at`, written by chat.presence when a chat is accepted or routed); a
chat closed before any agent took it was abandoned. The difference of the two instants is a
database expression, so the average and the longest wait come out of the same GROUP BY on
PostgreSQL (intervals) and SQLite (microseconds) alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Q, QuerySet
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat.models import Conversation, ConversationStatus
from core import report_periods
from core.reports import (
    BARS,
    INT,
    LINES,
    MINUTES,
    PERCENT,
    TEXT,
    Chart,
    Column,
    Filters,
    Report,
    Table,
    percent,
)

KEY = "chat-waits"

WAIT = ExpressionWrapper(F("accepted_at") - F("created_at"), output_field=DurationField())


def _figures() -> dict[str, Any]:
    return {
        "conversations": Count("pk"),
        "answered": Count("pk", filter=Q(agent__isnull=False)),
        "abandoned": Count("pk", filter=Q(status=ConversationStatus.CLOSED, agent__isnull=True)),
        "avg_wait": Avg(WAIT),
        "longest_wait": Max(WAIT),
    }


def minutes(value: dt.timedelta | float | None) -> float | None:
    """A duration from the database in minutes to one decimal (None: no wait known)."""
    if value is None:
        return None
    if not isinstance(value, dt.timedelta):  # a backend that hands back microseconds
        value = dt.timedelta(microseconds=float(value))
    return round(value.total_seconds() / 60, 1)


def conversations_in(filters: Filters) -> QuerySet[Conversation]:
    """The chats opened in the period, of the chosen regions (by the customer's organisation)."""
    chats = Conversation.objects.filter(
        created_at__gte=filters.period.start, created_at__lt=filters.period.end
    )
    if filters.region_ids is not None:
        chats = chats.filter(organisation__region_id__in=filters.region_ids)
    return chats


def _row(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "conversations": figures.get("conversations") or 0,
        "answered": figures.get("answered") or 0,
        "abandoned": figures.get("abandoned") or 0,
        "abandoned_pct": percent(figures.get("abandoned"), figures.get("conversations")),
        "avg_wait": minutes(figures.get("avg_wait")),
        "longest_wait": minutes(figures.get("longest_wait")),
    }


def _figure_columns() -> list[Column]:
    return [
        Column("conversations", _("Chats"), INT),
        Column("answered", _("Taken by an agent"), INT),
        Column("abandoned", _("Abandoned"), INT),
        Column("abandoned_pct", _("Abandoned %"), PERCENT),
        Column("avg_wait", _("Average wait (min)"), MINUTES),
        Column("longest_wait", _("Longest wait (min)"), MINUTES),
    ]


def _queue_name(row: dict[str, Any]) -> str:
    if row["queue_id"] is None:
        return _("No queue")
    language = translation.get_language() or ""
    if language.startswith("zh") and row["queue__name_zh"]:
        return row["queue__name_zh"]
    return row["queue__name"]


def compute(user: Any, filters: Filters) -> list[Table]:
    note = _(
        "The wait is known for chats taken since the desk records when an agent takes a chat; "
        "older chats count as taken or abandoned, not in the waits."
    )
    trend = Table(
        key="trend",
        title=_("Chats per period"),
        columns=[report_periods.bucket_column(filters.period), *_figure_columns()],
        chart=Chart(kind=LINES, x="bucket", series=["avg_wait", "longest_wait"], unit=_("min")),
        empty=_("No chats in this period."),
        note=note,
    )
    queues = Table(
        key="queues",
        title=_("Per queue"),
        columns=[Column("queue", _("Queue"), TEXT), *_figure_columns()],
        chart=Chart(kind=BARS, x="queue", series=["answered", "abandoned"]),
        empty=_("No chats in this period."),
        note=note,
    )
    if filters.region_ids == []:
        return [trend, queues]
    chats = conversations_in(filters)
    trend.rows = [
        {"bucket": row["bucket"], **_row(row)}
        for row in report_periods.trend(chats, "created_at", filters.period, {}, **_figures())
    ]
    per_queue = (
        chats.values("queue_id", "queue__name", "queue__name_zh")
        .annotate(**_figures())
        .order_by(F("queue__name").asc(nulls_last=True), "queue_id")
    )
    queues.rows = [{"queue": _queue_name(row), **_row(row)} for row in per_queue]
    if not queues.rows:  # no chat at all: the empty text, not a line of zeros
        trend.rows = []
    return [trend, queues]


REPORT = Report(
    key=KEY,
    title=gettext_lazy("Chat waits and abandoned chats"),
    description=gettext_lazy(
        "Chats opened in the period: how many an agent took, how many the customer left before "
        "anyone took them (closed without an agent), and how long customers waited for the "
        "first agent (the chats taken only)."
    ),
    group=gettext_lazy("Chat and phone"),
    compute=compute,
    order=40,
)
