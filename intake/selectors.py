"""Reads of the call records: answer rates per line, and the phone metrics for /metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from intake.models import Call

# A regional hotline's status component is named after its line: "hotline-east".
HOTLINE_PREFIX = "hotline-"


@dataclass(frozen=True)
class Rate:
    line: str
    answered: int
    missed: int

    @property
    def concluded(self) -> int:
        return self.answered + self.missed

    @property
    def rate(self) -> float | None:
        return self.answered / self.concluded if self.concluded else None


def answer_rates(*, now: dt.datetime | None = None, line: str | None = None) -> dict[str, Rate]:
    """Per line, over the last TELEPHONY_WINDOW_MINUTES: calls answered and calls missed
    (abandoned, or ended unanswered). Calls still ringing do not count yet. One query."""
    now = now or timezone.now()
    since = now - dt.timedelta(minutes=settings.TELEPHONY_WINDOW_MINUTES)
    calls = Call.objects.filter(started_at__gte=since, started_at__lte=now)
    if line is not None:
        calls = calls.filter(line=line)
    rows = calls.values("line").annotate(
        answered=Count("pk", filter=Q(answered_at__isnull=False)),
        missed=Count(
            "pk",
            filter=Q(answered_at__isnull=True) & (Q(abandoned=True) | Q(ended_at__isnull=False)),
        ),
    )
    return {r["line"]: Rate(r["line"], r["answered"], r["missed"]) for r in rows}


def overloaded(rate: Rate | None) -> bool:
    """Under the answer-rate threshold, with enough calls to judge."""
    return (
        rate is not None
        and rate.concluded >= settings.TELEPHONY_MIN_CALLS
        and rate.rate is not None
        and rate.rate < settings.TELEPHONY_ANSWER_RATE_THRESHOLD
    )


def phone_metrics():
    """welddesk_phone_answer_rate{line} over the window, and the all-time call counters that
    the Prometheus rules (deploy/prometheus) take rates of."""
    rate = GaugeMetricFamily(
        "welddesk_phone_answer_rate",
        "Share of concluded calls answered over the telephony window, per line.",
        labels=["line"],
    )
    for line, r in sorted(answer_rates().items()):
        if r.rate is not None:
            rate.add_metric([line], r.rate)
    total = CounterMetricFamily(
        "welddesk_phone_calls", "Calls reported by the phone system, per line.", labels=["line"]
    )
    answered = CounterMetricFamily(
        "welddesk_phone_calls_answered", "Calls answered, per line.", labels=["line"]
    )
    for row in (
        Call.objects.values("line")
        .annotate(n=Count("pk"), a=Count("pk", filter=Q(answered_at__isnull=False)))
        .order_by("line")
    ):
        total.add_metric([row["line"]], row["n"])
        answered.add_metric([row["line"]], row["a"])
    # The threshold the alert rule and the overload check judge by, so a dashboard draws the
    # line where the desk puts it (TELEPHONY_ANSWER_RATE_THRESHOLD), not a copy of it.
    threshold = GaugeMetricFamily(
        "welddesk_phone_answer_rate_threshold",
        "Answer rate under which a line counts as overloaded (TELEPHONY_ANSWER_RATE_THRESHOLD).",
        value=settings.TELEPHONY_ANSWER_RATE_THRESHOLD,
    )
    yield rate
    yield threshold
    yield total
    yield answered


def callers_on_lines(*, lines: list[str], start: dt.datetime, end: dt.datetime) -> Any:
    """The callers' phone blind indexes of calls on these lines in a window (one row a call)."""
    return (
        Call.objects.filter(line__in=lines, started_at__gte=start, started_at__lte=end)
        .exclude(caller_bidx="")
        .values_list("caller_bidx", flat=True)
    )


def line_of_component(key: str) -> str | None:
    """The phone line a status component stands for ("hotline-east" is the line "east")."""
    return key.removeprefix(HOTLINE_PREFIX) if key.startswith(HOTLINE_PREFIX) else None


def person_calls(*, phone_bidx: str) -> list[dict[str, Any]]:
    """The calls from a number (found by its blind index): line and times."""
    if not phone_bidx:
        return []
    return [
        {"line": c.line, "started": c.started_at, "answered": c.answered_at, "ended": c.ended_at}
        for c in Call.objects.filter(caller_bidx=phone_bidx).order_by("started_at")
    ]
