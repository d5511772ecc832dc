"""Reads of the equipment registry, always scoped to the asking user."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Case, CharField, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.permissions import get_scoped_or_404, scope_by_organisation
from core.compiled import CompiledRead
from equipment.models import (
    EXPIRING_SOON_DAYS,
    Alarm,
    FaultCode,
    MachineState,
    Unit,
    UnitStatus,
    WarrantyExtension,
    WarrantyStatus,
)


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


# The state of a unit that never reported (no UnitStatus row).
UNKNOWN = "unknown"
STATES = [*MachineState.values, UNKNOWN]


def unit_list(*, user: Any, search: str = "", warranty: str = "", state: str = "") -> QuerySet:
    """Return the units the user may see, with model, owner and live status joined.

    `state`: running, warning, stopped, or unknown (never reported)."""
    qs = scope_by_organisation(
        user, Unit.objects.select_related("machine_model", "organisation", "live_status")
    )
    if state == UNKNOWN:
        qs = qs.filter(live_status__isnull=True)
    elif state in MachineState.values:
        qs = qs.filter(live_status__state=state)
    if search:
        term = search.strip()
        qs = qs.filter(
            Q(serial_number__icontains=term)
            | Q(site__icontains=term)
            | Q(site_zh__icontains=term)
            | Q(machine_model__name__icontains=term)
            | Q(machine_model__name_zh__icontains=term)
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
        with_warranty_status(
            Unit.objects.select_related("machine_model", "organisation", "live_status")
        ),
        **lookup,
    )


# Every ticket opened through the API with a serial number asks this: composed once per
# process (core.compiled), since composing it cost more than running it.
_UNIT_OF_ORGANISATION = CompiledRead(
    lambda serial_number, organisation_id: Unit.objects.select_related("machine_model").filter(
        serial_number=serial_number, organisation_id=organisation_id
    )[:1],
    serial_number=str,
    organisation_id=int,
)


def unit_of_organisation(*, organisation: Any, serial_number: str) -> Unit | None:
    """Return the organisation's unit with this serial number (and its model), or None."""
    return _UNIT_OF_ORGANISATION.first(
        serial_number=str(serial_number), organisation_id=int(organisation.pk)
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


def fault_code_get(*, code: str) -> FaultCode | None:
    """Return the catalogue's fault code as a person may type it ("e101", "E-101"), or None.

    Codes are kept in capitals, with or without a hyphen after the letter ("E101", "E-201"):
    an exact lookup of both spellings, on the unique index."""
    bare = code.strip().upper().replace("-", "")
    return FaultCode.objects.filter(code__in={bare, f"{bare[:1]}-{bare[1:]}"}).first()


def units_in_warranty(
    *,
    on: dt.date,
    region_ids: list[int] | None = None,
    organisation_ids: Any = None,
) -> Any:
    """(organisation id, tier, unit id, serial) of units whose warranty still ran on a day:
    of organisations in regions (None: all), or of the given organisations (in chunks)."""
    units = Unit.objects.filter(warranty_ends_on__gte=on, organisation__is_active=True)
    columns = ("organisation_id", "organisation__tier", "pk", "serial_number")
    if organisation_ids is None:
        if region_ids is not None:
            units = units.filter(organisation__region_id__in=region_ids)
        yield from units.order_by("organisation_id", "pk").values_list(*columns)
        return
    wanted = sorted(set(organisation_ids))
    for start in range(0, len(wanted), 500):
        yield from (
            units.filter(organisation_id__in=wanted[start : start + 500])
            .order_by("organisation_id", "pk")
            .values_list(*columns)
        )


def warranty_extensions(*, source: str) -> list[WarrantyExtension]:
    """The extensions a source (e.g. a compensation grant) made, not reversals."""
    return list(WarrantyExtension.objects.filter(source=source, days__gt=0).select_related("unit"))


def warranty_history(unit: Unit) -> list[WarrantyExtension]:
    return list(unit.extensions.order_by("-created_at", "-pk"))


def units_by_id(ids: Any) -> dict[int, Unit]:
    return Unit.objects.in_bulk(sorted(set(ids)))


# ---------------------------------------------------------------------- live status and alarms


def unit_state(unit: Unit) -> UnitStatus | None:
    """The unit's live status (joined by unit_get and unit_list), None if it never reported."""
    return unit.live_status_or_none


def latest_alarms(unit: Unit, *, limit: int = 10) -> list[Alarm]:
    """The unit's latest alarms by the machine's clock, newest first (one index walk)."""
    return list(Alarm.objects.filter(unit=unit).order_by("-occurred_at", "-pk")[:limit])


def alarms_since(*, unit_id: int, code: str, since: Any, limit: int = 50) -> list[Alarm]:
    """A unit's alarms of one code from an instant on, newest first (a ticket's alarms)."""
    return list(
        Alarm.objects.filter(unit_id=unit_id, code=code, occurred_at__gte=since).order_by(
            "-occurred_at", "-pk"
        )[:limit]
    )


def alarm_count_since(*, unit_id: int, code: str, since: Any) -> int:
    return Alarm.objects.filter(unit_id=unit_id, code=code, occurred_at__gte=since).count()


def silent_units(*, tier: str, heard_before: Any, limit: int = 500) -> list[UnitStatus]:
    """Running units of a contract tier not heard from since an instant and not yet marked
    silent, oldest silence first (the partial index of running, unmarked units)."""
    return list(
        UnitStatus.objects.select_related("unit", "unit__organisation")
        .filter(
            state=MachineState.RUNNING,
            silent_since__isnull=True,
            last_seen_at__lt=heard_before,
            unit__contract_tier=tier,
            unit__organisation__is_active=True,
        )
        .order_by("last_seen_at")[:limit]
    )
