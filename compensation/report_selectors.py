"""The supervisors' reports on incidents and on compensation granted (core.reports).

Incidents are status's: read through status.selectors (the incidents of the period with their
components, the longest ones ordered in SQL); the customers each affected are compensation's
own, counted in one grouped query over the assessments of those incidents. Compensation is
summed per month in SQL. Each report costs the same few queries whatever the period holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from compensation.models import Assessment, Grant, GrantKind, GrantStatus
from compensation.selectors import money
from core import report_periods
from core.reports import (
    BARS,
    DATETIME,
    DECIMAL,
    HBARS,
    INT,
    MINUTES,
    MONTH,
    TEXT,
    YEAR_MONTH,
    Chart,
    Column,
    Filters,
    Report,
    Table,
)
from status.selectors import incidents_started, longest_incidents

INCIDENTS_KEY = "incidents"
GRANTED_KEY = "compensation-granted"

# The full table lists this many incidents (a note says when there were more); the chart
# draws the longest few.
INCIDENT_ROWS = 200
CHART_ROWS = 20


def _lasted(incident: Any, now: dt.datetime) -> dt.timedelta:
    """From the start to the resolution, or to now while it is not resolved."""
    return (incident.resolved_at or now) - incident.started_at


def affected_customers(*, incident_ids: list[int], region_ids: list[int] | None) -> dict[int, int]:
    """Per assessed incident, the distinct organisations its assessment gave a grant (of any
    status: a rejected proposal still names an affected customer), of the regions only. An
    incident never assessed is absent (not 0). One query."""
    if not incident_ids:
        return {}
    of_regions = Q()
    if region_ids is not None:
        of_regions = Q(grants__organisation__region_id__in=region_ids)
    rows = (
        Assessment.objects.filter(incident_id__in=incident_ids)
        .values("incident_id")
        .annotate(customers=Count("grants__organisation", distinct=True, filter=of_regions))
        .order_by()
    )
    return {row["incident_id"]: row["customers"] for row in rows}


def incidents_compute(user: Any, filters: Filters) -> list[Table]:
    now = timezone.now()
    longest = Table(
        key="longest",
        title=_("Longest incidents (hours)"),
        columns=[Column("title", _("Incident"), TEXT), Column("hours", _("Hours"), DECIMAL)],
        chart=Chart(kind=HBARS, x="title", series=["hours"], unit=_("h")),
        empty=_("No incidents in this period."),
        note=_("The %(n)s longest; an incident not yet resolved counts up to now.")
        % {"n": CHART_ROWS},
    )
    listed = Table(
        key="incidents",
        title=_("Incidents"),
        columns=[
            Column("title", _("Incident"), TEXT),
            Column("severity", _("Severity"), TEXT),
            Column("components", _("Components"), TEXT),
            Column("started", _("Started"), DATETIME),
            Column("resolved", _("Resolved"), DATETIME),
            Column("state", _("State"), TEXT),
            Column("duration", _("Duration (min)"), MINUTES),
            Column("customers", _("Affected customers"), INT),
        ],
        empty=_("No incidents in this period."),
        note=_(
            "An incident not yet resolved counts up to now (its state says so). Affected "
            "customers: the organisations its compensation assessment named; empty (—) when it "
            "has not been assessed."
        ),
    )
    period = filters.period
    found = incidents_started(
        start=period.start,
        end=period.end,
        region_ids=filters.region_ids,
        limit=INCIDENT_ROWS + 1,
    )
    if len(found) > INCIDENT_ROWS:
        found = found[:INCIDENT_ROWS]
        listed.note = " ".join(
            [
                _("Only the first %(n)s incidents of the period are listed.")
                % {"n": INCIDENT_ROWS},
                str(listed.note),
            ]
        )
    top = longest_incidents(
        start=period.start,
        end=period.end,
        region_ids=filters.region_ids,
        now=now,
        limit=CHART_ROWS,
    )
    longest.rows = [
        {"title": incident.title, "hours": round(_lasted(incident, now).total_seconds() / 3600, 1)}
        for incident in top
    ]
    customers = affected_customers(
        incident_ids=[incident.pk for incident in found], region_ids=filters.region_ids
    )
    listed.rows = [
        {
            "title": incident.title,
            "severity": incident.severity.name,
            "components": ", ".join(c.name for c in incident.components.all()),
            "started": incident.started_at,
            "resolved": incident.resolved_at,
            "state": incident.get_state_display()
            if incident.resolved_at
            else _("%(state)s (open, counted up to now)") % {"state": incident.get_state_display()},
            "duration": round(_lasted(incident, now).total_seconds() / 60, 1),
            "customers": customers.get(incident.pk),
        }
        for incident in found
    ]
    return [longest, listed]


def _grants(filters: Filters, status: str, when: str) -> QuerySet[Grant]:
    grants = Grant.objects.filter(
        status=status,
        **{f"{when}__gte": filters.period.start, f"{when}__lt": filters.period.end},
    )
    if filters.region_ids is not None:
        grants = grants.filter(organisation__region_id__in=filters.region_ids)
    return grants


def granted_compute(user: Any, filters: Filters) -> list[Table]:
    table = Table(
        key="months",
        title=_("Compensation per month"),
        columns=[
            Column("month", _("Month"), YEAR_MONTH),
            Column("grants", _("Grants"), INT),
            Column("organisations", _("Customers"), INT),
            Column("warranty_days", _("Warranty days"), INT),
            Column("priority_days", _("Priority service days"), INT),
            Column("vouchers", _("Vouchers"), INT),
            Column("voucher_value", _("Voucher value (CNY)"), DECIMAL),
            Column("reversed", _("Reversed grants"), INT),
            Column("reversed_value", _("Reversed voucher value (CNY)"), DECIMAL),
        ],
        chart=Chart(kind=BARS, x="month", series=["voucher_value", "grants"]),
        empty=_("No compensation in this period."),
        note=_(
            "Granted: approved and applied, in the month it was applied, and not reversed "
            "since. Reversed: in the month of the reversal."
        ),
    )
    if filters.region_ids == []:
        return [table]
    monthly = dataclasses.replace(filters.period, bucket=MONTH)
    granted = report_periods.trend(
        _grants(filters, GrantStatus.APPLIED, "applied_at"),
        "applied_at",
        monthly,
        {},
        grants=Count("pk"),
        organisations=Count("organisation", distinct=True),
        warranty_days=Sum("days", filter=Q(kind=GrantKind.WARRANTY)),
        priority_days=Sum("days", filter=Q(kind=GrantKind.PRIORITY)),
        vouchers=Count("pk", filter=Q(kind=GrantKind.VOUCHER)),
        voucher_value=Sum("amount", filter=Q(kind=GrantKind.VOUCHER)),
    )
    reversed_ = report_periods.trend(
        _grants(filters, GrantStatus.REVERSED, "reversed_at"),
        "reversed_at",
        monthly,
        {},
        reversed=Count("pk"),
        reversed_value=Sum("amount", filter=Q(kind=GrantKind.VOUCHER)),
    )
    for given, taken in zip(granted, reversed_, strict=True):
        table.rows.append(
            {
                "month": given["bucket"],
                "grants": given.get("grants") or 0,
                "organisations": given.get("organisations") or 0,
                "warranty_days": given.get("warranty_days") or 0,
                "priority_days": given.get("priority_days") or 0,
                "vouchers": given.get("vouchers") or 0,
                "voucher_value": money(given.get("voucher_value")),
                "reversed": taken.get("reversed") or 0,
                "reversed_value": money(taken.get("reversed_value")),
            }
        )
    return [table]


GROUP = gettext_lazy("Incidents and compensation")

INCIDENTS = Report(
    key=INCIDENTS_KEY,
    title=gettext_lazy("Incidents"),
    description=gettext_lazy(
        "Published incidents that started in the period (by their own start, which may be "
        "dated back): severity, components, how long each lasted (an open one up to now) and "
        "how many customers its compensation assessment named. A region sees the incidents "
        "touching its components or nationwide ones."
    ),
    group=GROUP,
    compute=incidents_compute,
    order=60,
)

GRANTED = Report(
    key=GRANTED_KEY,
    title=gettext_lazy("Compensation granted"),
    description=gettext_lazy(
        "Compensation approved and applied per month (by the day it was applied; a grant "
        "reversed since is not counted there): grants, customers, warranty and priority "
        "days, vouchers and their value; and the grants reversed in each month. By the "
        "customer's region."
    ),
    group=GROUP,
    compute=granted_compute,
    order=70,
)
