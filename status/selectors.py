"""Reads of the status app: the public summary, uptime bars, and the portal's banners.

Everything here is public (no personal data): published incidents only, public components
only. The summary is cached for a short while and dropped on every change (services call
`forget_summary` on commit), so a busy status page during an outage costs a few queries a
minute, and a change shows at once. With the cache (Redis) down the summary is built from
the database on every request, and the page keeps working.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from core import softcache
from status.models import (
    GRAVITY,
    Component,
    ComponentGroup,
    ComponentStatus,
    ComponentStatusChange,
    Incident,
    IncidentComponent,
    IncidentState,
    IncidentUpdate,
    Maintenance,
    MaintenanceState,
    Subscriber,
)

log = logging.getLogger(__name__)

# v2: days carry the minutes of each impact (a v1 pickle would lack them).
SUMMARY_KEY = "status:summary:v2"
SUMMARY_SECONDS = 30
UPTIME_DAYS = 90
# How much of its time in a status counts as downtime (docs/status-page.md).
DOWNTIME_WEIGHT = {
    ComponentStatus.OPERATIONAL: 0.0,
    ComponentStatus.MAINTENANCE: 0.0,  # announced in advance: not counted
    ComponentStatus.DEGRADED: 0.1,
    ComponentStatus.PARTIAL_OUTAGE: 0.5,
    ComponentStatus.MAJOR_OUTAGE: 1.0,
}


@dataclass
class Day:
    date: dt.date
    uptime: float | None  # percent; None: no data (before the component existed)
    worst: str = ComponentStatus.OPERATIONAL
    seconds: dict[str, float] = field(default_factory=dict)  # status -> seconds that day

    @property
    def impacts(self) -> list[dict[str, Any]]:
        """Every status but operational that day, gravest first, with its exact minutes."""
        return [
            {
                "status": s,
                "label": ComponentStatus(s).label,
                "minutes": round(self.seconds[s] / 60, 1),
                "seconds": round(self.seconds[s]),
            }
            for s in sorted(self.seconds, key=GRAVITY.get, reverse=True)
            if s != ComponentStatus.OPERATIONAL and self.seconds[s] > 0
        ]


@dataclass
class Summary:
    groups: list[ComponentGroup]
    components: list[Component]
    incidents: list[Incident]
    maintenances: list[Maintenance]
    recent: list[Incident]
    reports: list[Incident]
    uptime: dict[int, list[Day]]
    overall: str
    at: dt.datetime


def forget_summary() -> None:
    softcache.delete(SUMMARY_KEY)  # with the cache down it holds nothing to forget for long


def public_incidents() -> Any:
    return Incident.objects.filter(published_at__isnull=False).select_related("severity")


def summary(*, now: dt.datetime | None = None) -> Summary:
    """What the status page, its JSON and the banners show (cached briefly)."""
    if now is None:
        cached = softcache.get(SUMMARY_KEY)  # the cache down: a miss, built from the database
        if cached is not None:
            return cached
    built = _build(now or timezone.now())
    if now is None:
        softcache.set(SUMMARY_KEY, built, SUMMARY_SECONDS)
    return built


def _build(now: dt.datetime) -> Summary:
    components = list(Component.objects.filter(is_public=True).select_related("group", "region"))
    groups: dict[int, ComponentGroup] = {}
    for component in components:
        group = groups.setdefault(component.group_id, component.group)
        group.__dict__.setdefault("shown", []).append(component)
    updates = Prefetch("updates", queryset=IncidentUpdate.objects.order_by("-at", "-pk"))
    impacts = Prefetch("components", queryset=Component.objects.filter(is_public=True))
    incidents = list(
        public_incidents()
        .filter(resolved_at__isnull=True)
        .prefetch_related(updates, impacts)
        .order_by("severity__rank", "-started_at")
    )
    recent = list(
        public_incidents()
        .filter(resolved_at__gte=now - dt.timedelta(days=7))
        .prefetch_related(updates, impacts)
        .order_by("-resolved_at")[:10]
    )
    reports = list(
        public_incidents()
        .filter(report_published_at__isnull=False)
        .only("pk", "title_en", "title_zh", "resolved_at", "report_published_at", "severity")
        .order_by("-report_published_at")[:5]
    )
    maintenances = list(
        Maintenance.objects.filter(
            state__in=[MaintenanceState.SCHEDULED, MaintenanceState.IN_PROGRESS], ends_at__gt=now
        )
        .prefetch_related(Prefetch("components", queryset=Component.objects.filter(is_public=True)))
        .order_by("starts_at")
    )
    worst = max((c.status for c in components), key=GRAVITY.get, default="operational")
    return Summary(
        groups=sorted(groups.values(), key=lambda g: (g.position, g.key)),
        components=components,
        incidents=incidents,
        maintenances=maintenances,
        recent=recent,
        reports=reports,
        uptime=uptime(components=components, now=now),
        overall=worst,
        at=now,
    )


def uptime(*, components: list[Component], now: dt.datetime, days: int = UPTIME_DAYS):
    """Per component, one Day per calendar day (desk time zone) of the last `days` days.

    Outages come from the published incidents that touched the component, between their
    start and their resolution (or now): the times the incident says the outage happened,
    not when someone typed them. Maintenance comes from the status history (the tick writes
    it as it happens). Where several overlap, the gravest counts. Days before the component
    existed are not observed: they carry no figure (`uptime` None) and weigh nothing.
    Three queries whatever the number of components and incidents.
    """
    if not components:
        return {}
    tz = timezone.get_current_timezone()
    today = timezone.localtime(now, tz).date()
    first = today - dt.timedelta(days=days - 1)
    edges = [
        timezone.make_aware(dt.datetime.combine(first + dt.timedelta(days=n), dt.time()), tz)
        for n in range(days + 1)
    ]
    start = edges[0]
    spans = _incident_spans(components=components, start=start, now=now)
    for component_id, windows in _maintenance_spans(
        components=components, start=start, now=now
    ).items():
        spans[component_id].extend(windows)
    result = {}
    for component in components:
        since = max(start, component.created_at)
        timeline = _timeline(spans.get(component.pk, []), since, now)
        result[component.pk] = _days(edges, timeline)
    return result


def _incident_spans(
    *, components: list[Component], start: dt.datetime, now: dt.datetime
) -> defaultdict[int, list[tuple[dt.datetime, dt.datetime, str]]]:
    """(from, to, impact) of every published incident on each component inside the window.

    An incident counts from its start to its resolution (now while unresolved): the one place
    that says which of the incident's times bound an outage.
    """
    spans: defaultdict[int, list[tuple[dt.datetime, dt.datetime, str]]] = defaultdict(list)
    rows = (
        IncidentComponent.objects.filter(
            component__in=components,
            incident__published_at__isnull=False,
            incident__started_at__lt=now,
        )
        .filter(Q(incident__resolved_at__isnull=True) | Q(incident__resolved_at__gt=start))
        .values_list("component_id", "impact", "incident__started_at", "incident__resolved_at")
    )
    for component_id, impact, started_at, resolved_at in rows:
        spans[component_id].append((started_at, min(resolved_at or now, now), impact))
    return spans


def _maintenance_spans(
    *, components: list[Component], start: dt.datetime, now: dt.datetime
) -> dict[int, list[tuple[dt.datetime, dt.datetime, str]]]:
    """(from, to, "maintenance") from the status history: the status at the window's start
    (the last change before it), then every change inside it. Two queries."""
    before = (
        ComponentStatusChange.objects.filter(component=OuterRef("pk"), at__lt=start)
        .order_by("-at", "-pk")
        .values("to_status")[:1]
    )
    status = dict(
        Component.objects.filter(pk__in=[c.pk for c in components])
        .annotate(initial=Subquery(before))
        .values_list("pk", "initial")
    )
    opened: dict[int, dt.datetime] = {
        pk: start for pk, s in status.items() if s == ComponentStatus.MAINTENANCE
    }
    spans: dict[int, list[tuple[dt.datetime, dt.datetime, str]]] = defaultdict(list)
    for component_id, at, to_status in (
        ComponentStatusChange.objects.filter(component__in=components, at__gte=start, at__lte=now)
        .order_by("at", "pk")
        .values_list("component_id", "at", "to_status")
    ):
        if to_status == ComponentStatus.MAINTENANCE:
            opened.setdefault(component_id, at)
        elif component_id in opened:
            spans[component_id].append((opened.pop(component_id), at, ComponentStatus.MAINTENANCE))
    for component_id, at in opened.items():
        spans[component_id].append((at, now, ComponentStatus.MAINTENANCE))
    return spans


def _timeline(spans, since: dt.datetime, now: dt.datetime) -> list[tuple]:
    """[(from, to, status)] covering since..now without overlaps: the gravest span at each
    moment, operational where none."""
    if now <= since:
        return []
    cuts = sorted({since, now} | {t for a, b, _s in spans for t in (a, b) if since < t < now})
    timeline: list[tuple] = []
    for lo, hi in itertools.pairwise(cuts):
        status = max(
            (s for a, b, s in spans if a <= lo and b >= hi),
            key=GRAVITY.get,
            default=ComponentStatus.OPERATIONAL,
        )
        if timeline and timeline[-1][2] == status:
            timeline[-1] = (timeline[-1][0], hi, status)
        else:
            timeline.append((lo, hi, status))
    return timeline


def _days(edges, timeline) -> list[Day]:
    days = []
    for lo, hi in itertools.pairwise(edges):
        day = Day(date=timezone.localtime(lo).date(), uptime=None)
        for a, b, s in timeline:
            overlap = (min(b, hi) - max(a, lo)).total_seconds()
            if overlap > 0:
                day.seconds[s] = day.seconds.get(s, 0.0) + overlap
                if GRAVITY[s] > GRAVITY[day.worst]:
                    day.worst = s
        observed = sum(day.seconds.values())
        if observed > 0:
            down = sum(DOWNTIME_WEIGHT[s] * t for s, t in day.seconds.items())
            day.uptime = _percent(down, observed, 2)
        days.append(day)
    return days


def uptime_percent(days: list[Day]) -> float | None:
    """The period's uptime over the days observed, weighted by the seconds observed:
    `100 × (1 − Σ weight × seconds / seconds observed)`. None without any observed day."""
    observed = sum(sum(d.seconds.values()) for d in days)
    if not observed:
        return None
    down = sum(DOWNTIME_WEIGHT[s] * t for d in days for s, t in d.seconds.items())
    return _percent(down, observed, 3)


def _percent(down: float, observed: float, places: int) -> float:
    """`100 × (1 − down / observed)` cut (not rounded) to `places`: a day with a few seconds
    of outage shows 99.99 %, never 100 %. (The epsilon keeps 70.0 from becoming 69.99.)"""
    scale = 10**places
    return math.floor(100.0 * (1 - down / observed) * scale + 1e-6) / scale


@dataclass
class Figure:
    """What the page and the JSON say of a component's last 90 days."""

    days: list[Day]
    percent: float | None
    days_with_data: int
    impacted: list[Day]  # the days with an impact, newest first


def uptime_figure(days: list[Day]) -> Figure:
    return Figure(
        days=days,
        percent=uptime_percent(days),
        days_with_data=sum(1 for d in days if d.uptime is not None),
        impacted=[d for d in reversed(days) if d.impacts],
    )


def banners_for(user: Any) -> list[dict]:
    """Published, unresolved incidents and running maintenance that touch the customer:
    a component of their organisation's region, or a nationwide one (chat, portal ...)."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_staff:
        return []
    region_id = getattr(getattr(user, "organisation", None), "region_id", None)
    data = summary()
    shown = []
    for incident in data.incidents:
        touched = [c for c in incident.components.all() if c.region_id in (None, region_id)]
        if not touched:
            continue
        latest = next(iter(incident.updates.all()), None)
        shown.append(
            {
                "level": "outage" if incident.severity.rank <= 2 else "degraded",
                "title": incident.title,
                "body": " ".join(
                    part
                    for part in (
                        incident.cause,
                        _eta(incident),
                        latest.body if latest is not None else "",
                    )
                    if part
                ),
                "link": f"/status/incidents/{incident.pk}/",
            }
        )
    for window in data.maintenances:
        if window.state != MaintenanceState.IN_PROGRESS:
            continue
        if any(c.region_id in (None, region_id) for c in window.components.all()):
            shown.append({"level": "info", "title": window.title, "body": window.body, "link": ""})
    return shown


def incidents_for_customer(user: Any) -> list[dict]:
    """Published, unresolved incidents that touch the customer's region (or every region):
    what the portal's fault form shows above the form, so a customer sees that their report
    may be one of many. From the cached summary: no query while it is warm."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_staff:
        return []
    region_id = getattr(getattr(user, "organisation", None), "region_id", None)
    shown = []
    for incident in summary().incidents:
        if not any(c.region_id in (None, region_id) for c in incident.components.all()):
            continue
        shown.append(
            {
                "pk": incident.pk,
                "title": incident.title,
                "state": incident.get_state_display(),
                "expected_recovery": incident.expected_recovery,
                "level": "outage" if incident.severity.rank <= 2 else "degraded",
                "link": reverse("status:incident", args=[incident.pk]),
            }
        )
    return shown


def _eta(incident: Incident) -> str:
    from django.utils.translation import gettext as _

    if incident.expected_recovery is None:
        return ""
    when = timezone.localtime(incident.expected_recovery).strftime("%Y-%m-%d %H:%M")
    return _("Expected recovery: %(when)s.") % {"when": when}


def incident_public(*, pk: int) -> Incident | None:
    updates = Prefetch("updates", queryset=IncidentUpdate.objects.order_by("-at", "-pk"))
    return public_incidents().prefetch_related(updates, "components").filter(pk=pk).first()


def incident_report(*, pk: int) -> Incident | None:
    """A published incident report, its timeline oldest first."""
    updates = Prefetch("updates", queryset=IncidentUpdate.objects.order_by("at", "pk"))
    return (
        public_incidents()
        .filter(report_published_at__isnull=False)
        .prefetch_related(updates, "components")
        .filter(pk=pk)
        .first()
    )


def feed_updates(limit: int = 50) -> list[IncidentUpdate]:
    return list(
        IncidentUpdate.objects.filter(incident__published_at__isnull=False)
        .select_related("incident", "incident__severity")
        .order_by("-at", "-pk")[:limit]
    )


def component_status(key: str) -> str | None:
    """The current status of a component by key (None if there is no such component)."""
    return Component.objects.filter(key=key).values_list("status", flat=True).first()


def incident_for_compensation(*, pk: int) -> Incident | None:
    """An incident with its severity and components, for assessing who it affected."""
    return (
        Incident.objects.select_related("severity")
        .prefetch_related("components")
        .filter(pk=pk)
        .first()
    )


def resolved_incidents(*, since: dt.datetime) -> list[Incident]:
    """Public incidents resolved since a moment, oldest first."""
    return list(public_incidents().filter(resolved_at__gte=since).order_by("resolved_at", "pk"))


def person_subscriptions(*, email_bidx: str) -> list[dict[str, Any]]:
    """The status-page subscription of an e-mail address (found by its blind index)."""
    if not email_bidx:
        return []
    return [
        {"confirmed": s.confirmed_at, "since": s.created_at, "language": s.language}
        for s in Subscriber.objects.filter(email_bidx=email_bidx)
    ]


# ------------------------------------------------------------------- the agents' home

ACTIVE_INCIDENT_STATES = (
    IncidentState.INVESTIGATING.value,
    IncidentState.IDENTIFIED.value,
    IncidentState.MONITORING.value,
)


def active_incidents(*, limit: int = 5) -> tuple[int, list[Incident]]:
    """(how many, the newest few) incidents not yet resolved, drafts included: two queries."""
    active = Incident.objects.filter(state__in=ACTIVE_INCIDENT_STATES)
    rows = active.select_related("severity").order_by("-started_at", "-pk")[:limit]
    return active.count(), list(rows)


# ------------------------------------------------------------------- supervisors' reports


def components_by_key(*, prefix: str = "") -> dict[str, Component]:
    """Components whose key starts with `prefix` (e.g. the hotlines), by key: one query. Other
    apps read a component's region and names through it (intake's answer-rate report)."""
    return {c.key: c for c in Component.objects.filter(key__startswith=prefix).order_by("key")}


def _incidents_of_regions(incidents: Any, region_ids: list[int] | None) -> Any:
    """Incidents of the regions: those touching a component of one of them or a nationwide
    one (a component without a region), and those that name no component at all (nothing
    ties them to a region, so every region sees them). None: every incident."""
    if region_ids is None:
        return incidents
    touching = IncidentComponent.objects.filter(
        Q(component__region_id__in=region_ids) | Q(component__region__isnull=True)
    ).values("incident_id")
    named = IncidentComponent.objects.filter(incident_id=OuterRef("pk"))
    return incidents.filter(Q(pk__in=touching) | ~Exists(named))


def incidents_started(
    *, start: dt.datetime, end: dt.datetime, region_ids: list[int] | None, limit: int
) -> list[Incident]:
    """Published incidents that started in [start, end) (by their own, maybe backdated,
    `started_at`), of the regions, oldest first, at most `limit`: with their severity and
    components, two queries whatever their number. Drafts are left out: until published
    they changed nothing customers saw."""
    if region_ids == []:
        return []
    incidents = public_incidents().filter(started_at__gte=start, started_at__lt=end)
    incidents = _incidents_of_regions(incidents, region_ids)
    return list(
        incidents.select_related("severity")
        .prefetch_related(Prefetch("components", queryset=Component.objects.order_by("key")))
        .order_by("started_at", "pk")[:limit]
    )


def longest_incidents(
    *,
    start: dt.datetime,
    end: dt.datetime,
    region_ids: list[int] | None,
    now: dt.datetime,
    limit: int,
) -> list[Incident]:
    """The `limit` longest of those incidents (an open one counts up to `now`), longest
    first, ordered in SQL: one query, whatever their number."""
    if region_ids == []:
        return []
    incidents = public_incidents().filter(started_at__gte=start, started_at__lt=end)
    lasted = ExpressionWrapper(
        Coalesce(F("resolved_at"), Value(now)) - F("started_at"), output_field=DurationField()
    )
    return list(
        _incidents_of_regions(incidents, region_ids)
        .annotate(lasted=lasted)
        .order_by("-lasted", "pk")[:limit]
    )
