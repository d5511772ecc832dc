"""The import itself: read, plan, and (unless a dry run) write everything in one transaction.

All or nothing: a file with any row error writes nothing, and the write of a clean file is
one transaction, so a failure half-way (a unit created meanwhile by someone else, a lost
connection) rolls every row back. Organisations and contacts are written by the accounts
services (accounts.services.imports), units here with bulk statements; every created or
changed row gets one audit event naming the changed fields (never a personal value), and
the import one more event with the counts and the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions, roles
from accounts.services import (
    WantedContact,
    WantedOrganisation,
    contacts_import,
    organisations_import,
)
from audit.services import audit_record, audit_record_many
from equipment.importing import parse
from equipment.importing.parse import ImportRefused
from equipment.importing.plan import FIELD_LABELS, UNIT_FIELDS, Plan, build
from equipment.models import Unit

BATCH = 2000
Progress = Callable[[str, int, int], None]


def may_import(user: Any) -> bool:
    """Supervisors and superusers: an import writes organisations of every region."""
    return bool(
        getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
        and (user.is_superuser or permissions.has_role(user, roles.SUPERVISOR))
    )


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def preview(*, data: bytes, move: bool = False) -> Plan:
    """What importing the file would do (a dry run): row errors and changes; writes nothing."""
    fmt, rows = parse.read(data)
    return build(rows, move=move, fmt=fmt, sha256=file_hash(data))


def import_installed_base(
    *,
    data: bytes,
    actor: Any,
    move: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Plan:
    """Plan the file and, when it has no error and this is no dry run, apply it.

    Raises ImportRefused for a file that cannot be read. Returns the plan; `plan.errors`
    non-empty means nothing was written.
    """
    if actor is not None and not may_import(actor):
        raise ImportRefused(_("Only supervisors may import the installed base."), code="denied")
    fmt, rows = parse.read(data)
    if progress:
        progress("rows read", len(rows), len(rows))
    if dry_run:
        plan = build(rows, move=move, fmt=fmt, sha256=file_hash(data))
        if progress:
            progress("rows checked", len(rows), len(rows))
        return plan
    try:
        with transaction.atomic():
            # Planned inside the transaction, so what is written is diffed against the rows
            # as they are now (the changed ones are locked before they are compared again).
            plan = build(rows, move=move, fmt=fmt, sha256=file_hash(data))
            if progress:
                progress("rows checked", len(rows), len(rows))
            if plan.errors:
                return plan
            _write(plan, actor=actor, progress=progress)
    except IntegrityError as exc:
        raise ImportRefused(
            _("The installed base changed while importing; nothing was written. Run it again."),
            code="conflict",
        ) from exc
    return plan


def _write(plan: Plan, *, actor: Any, progress: Progress | None) -> None:
    started = time.monotonic()
    data = {"import": plan.sha256[:16]}
    org_ids, org_counts = organisations_import(
        actor=actor,
        wanted=[
            WantedOrganisation(code=w.code, name=w.name, region=w.region)
            for w in plan.organisations.values()
        ],
        data=data,
    )
    contact_counts = contacts_import(
        actor=actor,
        wanted=[
            WantedContact(
                email=w.email,
                full_name=w.full_name,
                phone=w.phone,
                organisation_id=org_ids[w.org_code],
            )
            for w in plan.contacts.values()
        ],
        data=data,
    )
    unit_counts = _write_units(plan, org_ids, actor=actor, data=data, progress=progress)
    audit_record(
        action="installed_base.imported",
        actor=actor,
        target_type="equipment.unit",
        target_id="",
        data={
            "sha256": plan.sha256,
            "format": plan.format,
            "rows": plan.rows,
            "move": plan.move,
            "organisations": org_counts,
            "contacts": contact_counts,
            "units": unit_counts,
            "seconds": round(time.monotonic() - started, 3),
        },
    )


def _locked_units(pks: list[int]) -> list[Unit]:
    """These units, locked until the import commits."""
    if connection.vendor == "postgresql":
        # One array parameter rather than an IN list of 2,000: see plan._units_by_serial.
        return list(
            Unit.objects.raw("SELECT * FROM equipment_unit WHERE id = ANY(%s) FOR UPDATE", [pks])
        )
    return list(Unit.objects.select_for_update().filter(pk__in=pks))


def _write_units(
    plan: Plan,
    org_ids: dict[str, int],
    *,
    actor: Any,
    data: dict[str, Any],
    progress: Progress | None,
) -> dict[str, int]:
    new = [w for w in plan.units.values() if w.existing is None]
    known = {w.existing["pk"]: w for w in plan.units.values() if w.existing is not None}
    total = len(new) + len(known)
    done = 0
    created_ids: list[int] = []
    for start in range(0, len(new), BATCH):
        batch = [
            Unit(
                serial_number=w.serial,
                organisation_id=org_ids[w.org_code],
                **{k: v for k, v in w.values.items() if k != "organisation_id"},
            )
            for w in new[start : start + BATCH]
        ]
        Unit.objects.bulk_create(batch)
        created_ids += [unit.pk for unit in batch]
        done += len(batch)
        if progress:
            progress("units", done, total)
    audit_record_many(
        action="unit.created",
        actor=actor,
        model=Unit,
        target_ids=created_ids,
        changes=["serial_number", *(FIELD_LABELS.get(n, n) for n in UNIT_FIELDS)],
        data=data,
    )
    # Only the rows the plan saw differ are locked and compared again; the unchanged ones
    # (nearly all of a re-import) cost no write at all.
    to_check = [
        pk
        for pk, w in known.items()
        if any(w.values.get(n, org_ids[w.org_code]) != w.existing[n] for n in UNIT_FIELDS)
    ]
    changed: dict[int, list[str]] = {}
    now = timezone.now()
    for start in range(0, len(to_check), BATCH):
        units = _locked_units(to_check[start : start + BATCH])
        dirty = []
        fields: set[str] = set()
        for unit in units:
            wanted = known[unit.pk]
            if unit.organisation_id != wanted.existing["organisation_id"] and not plan.move:
                raise ImportRefused(
                    _("The installed base changed while importing; nothing was written."),
                    code="conflict",
                )
            names = []
            for name in UNIT_FIELDS:
                value = wanted.values.get(name, org_ids[wanted.org_code])
                if getattr(unit, name) != value:
                    setattr(unit, name, value)
                    names.append(name)
            if names:
                unit.updated_at = now
                fields.update(names)
                dirty.append(unit)
                changed[unit.pk] = [FIELD_LABELS.get(n, n) for n in names]
        if dirty:
            Unit.objects.bulk_update(dirty, [*sorted(fields), "updated_at"], batch_size=500)
        if progress:
            progress("units", len(new) + start + len(units), total)
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for pk, names in changed.items():
        groups[tuple(sorted(names))].append(pk)
    for names, pks in groups.items():
        audit_record_many(
            action="unit.changed",
            actor=actor,
            model=Unit,
            target_ids=pks,
            changes=list(names),
            data=data,
        )
    return {
        "created": len(new),
        "changed": len(changed),
        "unchanged": len(known) - len(changed),
    }
