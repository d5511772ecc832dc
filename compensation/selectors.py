"""Reads of compensation: totals for supervisors, a customer's history, the report's lines."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.permissions import scope_by_organisation
from compensation.models import Assessment, Grant, GrantKind, GrantStatus
from core.spreadsheet import csv_cell

GROUPS = {
    "incident": gettext_lazy("Event"),
    "organisation": gettext_lazy("Customer"),
    "month": gettext_lazy("Month"),
}


@dataclass
class Total:
    key: Any
    label: str
    organisations: int
    grants: int
    warranty_days: int
    vouchers: int
    voucher_value: Decimal
    priority_days: int


def _sums() -> dict[str, Any]:
    return {
        "organisations": Count("organisation", distinct=True),
        "grants": Count("pk"),
        "warranty_days": Sum("days", filter=Q(kind=GrantKind.WARRANTY)),
        "vouchers": Count("pk", filter=Q(kind=GrantKind.VOUCHER)),
        "voucher_value": Sum("amount", filter=Q(kind=GrantKind.VOUCHER)),
        "priority_days": Sum("days", filter=Q(kind=GrantKind.PRIORITY)),
    }


def totals(*, user: Any, group: str, search: str = "") -> list[Total]:
    """Applied compensation of the customers the user may see, summed per event, per customer
    or per month (newest first)."""
    if group not in GROUPS:
        group = "incident"
    grants = scope_by_organisation(user, Grant.objects.filter(status=GrantStatus.APPLIED))
    if search:
        grants = grants.filter(organisation__name__icontains=search)
    if group == "incident":
        rows = grants.values("assessment_id", "assessment__key").order_by()
        keys = ("assessment_id", "assessment__key")
    elif group == "organisation":
        rows = grants.values("organisation_id", "organisation__name").order_by()
        keys = ("organisation_id", "organisation__name")
    else:
        rows = grants.annotate(month=TruncMonth("applied_at")).values("month").order_by()
        keys = ("month", "month")
    found = []
    for row in rows.annotate(**_sums()):
        label = row[keys[1]]
        if group == "month":
            label = label.strftime("%Y-%m") if label else ""
        found.append(
            Total(
                key=row[keys[0]],
                label=str(label),
                organisations=row["organisations"],
                grants=row["grants"],
                warranty_days=row["warranty_days"] or 0,
                vouchers=row["vouchers"],
                voucher_value=money(row["voucher_value"]),
                priority_days=row["priority_days"] or 0,
            )
        )
    if group == "incident":
        events = Assessment.objects.select_related("incident", "ticket").in_bulk(
            [t.key for t in found]
        )
        for t in found:
            t.label = event_label(events[t.key]) if t.key in events else t.label
    found.sort(key=lambda t: str(t.label), reverse=group == "month")
    return found


def money(value: Any) -> Decimal:
    """A sum of CNY to the fen (SQLite returns sums of decimals without their places)."""
    return Decimal(value or 0).quantize(Decimal("0.01"))


def event_label(assessment: Assessment) -> str:
    if assessment.incident_id:
        return f"{assessment}: {assessment.incident.title}"
    return f"{assessment}: {assessment.ticket.reference}"


class _Echo:
    def write(self, value: str) -> str:
        return value


def totals_csv(*, user: Any, group: str, search: str = "") -> Iterator[str]:
    """The totals as CSV lines (streamed), cells escaped against spreadsheet formulas."""
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            str(GROUPS.get(group, GROUPS["incident"])),
            _("Customers"),
            _("Grants"),
            _("Warranty days"),
            _("Vouchers"),
            _("Voucher value (CNY)"),
            _("Priority days"),
        ]
    )
    for t in totals(user=user, group=group, search=search):
        yield writer.writerow(
            [
                csv_cell(t.label),
                t.organisations,
                t.grants,
                t.warranty_days,
                t.vouchers,
                t.voucher_value,
                t.priority_days,
            ]
        )


def assessment_counts(assessment: Assessment) -> dict[str, int]:
    """How many grants of an assessment are in each status."""
    counts = dict.fromkeys(GrantStatus.values, 0)
    for status, n in assessment.grants.values_list("status").annotate(n=Count("pk")).order_by():
        counts[status] = n
    return counts


def history_for_customer(*, user: Any) -> QuerySet[Grant]:
    """The compensation a customer's organisation received (applied or reversed)."""
    if getattr(user, "organisation_id", None) is None:
        return Grant.objects.none()
    return (
        Grant.objects.filter(
            organisation_id=user.organisation_id,
            status__in=[GrantStatus.APPLIED, GrantStatus.REVERSED],
        )
        .select_related("assessment__incident", "assessment__ticket", "voucher")
        .order_by("-applied_at", "-pk")
    )


def report_lines(incident: Any) -> list[tuple[str, str]]:
    """The compensation an incident's report states, in aggregate (no customer is named)."""
    grants = Grant.objects.filter(
        assessment__key=f"incident:{incident.pk}", status=GrantStatus.APPLIED
    )
    sums = grants.aggregate(**_sums())
    if not sums["grants"]:
        return []
    lines = [(_("Customers compensated"), str(sums["organisations"]))]
    if sums["warranty_days"]:
        warranty = grants.filter(kind=GrantKind.WARRANTY).count()
        lines.append(
            (
                _("Warranty extensions"),
                _("%(n)s customers, %(days)s days in all")
                % {"n": warranty, "days": sums["warranty_days"]},
            )
        )
    if sums["vouchers"]:
        lines.append(
            (
                _("Maintenance vouchers"),
                _("%(n)s vouchers worth CNY %(value)s in all")
                % {"n": sums["vouchers"], "value": money(sums["voucher_value"])},
            )
        )
    if sums["priority_days"]:
        priority = grants.filter(kind=GrantKind.PRIORITY).count()
        lines.append((_("Priority service"), _("%(n)s customers") % {"n": priority}))
    return lines


def person_compensation(*, organisation_id: int | None) -> list[dict[str, Any]]:
    """What the person's organisation received (applied or reversed)."""
    if organisation_id is None:
        return []
    grants = Grant.objects.filter(
        organisation_id=organisation_id,
        status__in=[GrantStatus.APPLIED, GrantStatus.REVERSED],
    ).select_related("assessment")
    return [
        {
            "kind": g.kind,
            "status": g.status,
            "days": g.days,
            "amount_cny": g.amount,
            "event": g.assessment.key,
            "applied_at": g.applied_at,
            "reversed_at": g.reversed_at,
        }
        for g in grants.order_by("applied_at", "pk")
    ]
