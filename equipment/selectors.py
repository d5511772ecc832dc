"""Reads of the equipment registry, always scoped to the asking user."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Case, CharField, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.permissions import get_scoped_or_404, scope_by_organisation
from equipment.models import EXPIRING_SOON_DAYS, FaultCode, Unit, WarrantyStatus


def with_warranty_status(queryset: QuerySet, today: dt.date | None = None) -> QuerySet:
    """Annotate `warranty` with the derived status, so lists can filter and sort by it."""
    today = today or timezone.localdate()
    soon = today + dt.timedelta(days=EXPIRING_SOON_DAYS)
    return queryset.annotate(
        warranty=Case(
            When(warranty_ends_on__lt=today, then=Value(WarrantyStatus.EXPIRED.value)),
            When(warranty_ends_on__lte=soon, then=Value(WarrantyStatus.EXPIRING.value)),
            default=Value(WarrantyStatus.ACTIVE.value),
            output_field=CharField(),
        )
    )


def unit_list(*, user: Any, search: str = "", warranty: str = "") -> QuerySet:
    """Return the units the user may see, with model and owner joined."""
    qs = scope_by_organisation(user, Unit.objects.select_related("machine_model", "organisation"))
    if search:
        term = search.strip()
        qs = qs.filter(
            Q(serial_number__icontains=term)
            | Q(site__icontains=term)
            | Q(machine_model__name__icontains=term)
        )
    qs = with_warranty_status(qs)
    if warranty in WarrantyStatus.values:
        qs = qs.filter(warranty=warranty)
    return qs


def unit_get(*, user: Any, pk: Any = None, serial_number: str | None = None) -> Unit:
    """Return one unit the user may see, by id or serial number, with its warranty status.

    Raises 404 (audited when it is someone else's unit).
    """
    lookup = {"pk": pk} if pk is not None else {"serial_number": serial_number}
    return get_scoped_or_404(
        user,
        with_warranty_status(Unit.objects.select_related("machine_model", "organisation")),
        **lookup,
    )


def unit_of_organisation(*, organisation: Any, serial_number: str) -> Unit | None:
    """Return the organisation's unit with this serial number (and its model), or None."""
    return (
        Unit.objects.select_related("machine_model")
        .filter(serial_number=serial_number, organisation=organisation)
        .first()
    )


def fault_code_list(*, search: str = "", product_line: str = "") -> QuerySet:
    """Return the fault-code catalogue (public reference data), optionally filtered."""
    qs = FaultCode.objects.all()
    if search:
        term = search.strip()
        qs = qs.filter(
            Q(code__icontains=term) | Q(title_en__icontains=term) | Q(title_zh__icontains=term)
        )
    if product_line:
        qs = qs.filter(Q(product_lines="") | Q(product_lines__contains=product_line))
    return qs
