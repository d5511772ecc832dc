"""Every write to the equipment registry: validated, atomic and audited."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organisation, Tier
from audit.services import audit_record
from core import search_terms
from core.errors import ApplicationError
from equipment.models import MachineModel, Unit, WarrantyExtension

UNIT_FIELDS = (
    "serial_number",
    "machine_model",
    "organisation",
    "site",
    "site_zh",
    "installed_on",
    "firmware",
    "warranty_ends_on",
    "contract_tier",
)
SERIAL_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,39}$")


def normalise_serial(value: str) -> str:
    return (value or "").strip().upper()


def unit_validate(values: dict[str, Any], *, instance: Unit | None = None) -> None:
    """Raise ApplicationError with per-field messages if the values cannot be saved."""
    errors: dict[str, list[str]] = {}
    if "serial_number" in values:
        serial = values["serial_number"]
        if not SERIAL_RE.match(serial):
            errors["serial_number"] = [
                _("Use 4 to 40 letters, digits and hyphens, e.g. HW2000-2026-0042.")
            ]
        else:
            clash = Unit.objects.filter(serial_number=serial)
            if instance is not None:
                clash = clash.exclude(pk=instance.pk)
            if clash.exists():
                errors["serial_number"] = [_("A unit with this serial number already exists.")]
    if "machine_model" in values and not isinstance(values["machine_model"], MachineModel):
        errors["machine_model"] = [_("Choose a machine model.")]
    if "organisation" in values and not isinstance(values["organisation"], Organisation):
        errors["organisation"] = [_("Choose the owner organisation.")]
    if "contract_tier" in values and values["contract_tier"] not in Tier.values:
        errors["contract_tier"] = [_("Choose a valid contract tier.")]
    for name in ("site", "site_zh"):
        if name in values and not (isinstance(values[name], str) and len(values[name]) <= 200):
            errors[name] = [_("Use at most 200 characters.")]
    for name in ("installed_on", "warranty_ends_on"):
        if name in values and not isinstance(values[name], dt.date):
            errors[name] = [_("Enter a valid date.")]
    installed = values.get("installed_on", instance.installed_on if instance else None)
    ends = values.get("warranty_ends_on", instance.warranty_ends_on if instance else None)
    if isinstance(installed, dt.date) and isinstance(ends, dt.date) and ends < installed:
        errors["warranty_ends_on"] = [_("The warranty cannot end before the installation date.")]
    if errors:
        raise ApplicationError(_("Please correct the unit's details."), fields=errors)


def _audit_value(value: Any) -> Any:
    return value.pk if hasattr(value, "pk") else value


@transaction.atomic
def unit_create(*, actor: Any, **fields: Any) -> Unit:
    """Register an installed unit."""
    unknown = set(fields) - set(UNIT_FIELDS)
    if unknown:
        raise ApplicationError(_("Unknown fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    missing = {"serial_number", "machine_model", "organisation", "installed_on"} - set(fields)
    if missing:
        raise ApplicationError(
            _("Please correct the unit's details."),
            fields={name: [_("This field is required.")] for name in sorted(missing)},
        )
    values = dict(fields)
    values["serial_number"] = normalise_serial(values["serial_number"])
    values.setdefault("warranty_ends_on", values["installed_on"] + dt.timedelta(days=365 * 2))
    unit_validate(values)
    unit = Unit.objects.create(**values)
    audit_record(
        action="unit.created",
        actor=actor,
        target=unit,
        changes={k: _audit_value(v) for k, v in values.items()},
    )
    return unit


@transaction.atomic
def unit_update(*, unit: Unit, actor: Any, **changes: Any) -> Unit:
    """Change a unit's details; only fields that really change are saved and audited."""
    unknown = set(changes) - set(UNIT_FIELDS)
    if unknown:
        raise ApplicationError(_("Unknown fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    if "serial_number" in changes:
        changes["serial_number"] = normalise_serial(changes["serial_number"])
    locked = Unit.objects.select_for_update().get(pk=unit.pk)
    unit_validate(changes, instance=locked)
    changed = {}
    for name, value in changes.items():
        if getattr(locked, name) != value:
            setattr(locked, name, value)
            changed[name] = _audit_value(value)
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
        if "serial_number" in changed:
            search_terms.changed("equipment.Unit", [locked.pk])
        audit_record(action="unit.changed", actor=actor, target=locked, changes=changed)
    return locked


@transaction.atomic
def unit_extend_warranty(
    *,
    unit: Unit,
    days: int,
    actor: Any,
    reason: str,
    reason_zh: str = "",
    source: str = "",
) -> WarrantyExtension:
    """Move a unit's warranty end by a number of days (compensation, goodwill); audited and
    kept as history the customer sees. A non-empty `source` extends a unit only once."""
    if not isinstance(days, int) or days <= 0 or days > 3650:
        raise ApplicationError(_("A warranty extension is 1 to 3650 days."))
    if not reason or not reason.strip():
        raise ApplicationError(_("Give a reason for the warranty extension."))
    locked = Unit.objects.select_for_update().get(pk=unit.pk)
    if source:
        done = WarrantyExtension.objects.filter(unit=locked, source=source).first()
        if done is not None:
            return done
    return _move_warranty(
        locked, days=days, actor=actor, reason=reason, reason_zh=reason_zh, source=source
    )


@transaction.atomic
def unit_warranty_extension_reverse(
    *, extension: WarrantyExtension, actor: Any, reason: str, reason_zh: str = ""
) -> WarrantyExtension:
    """Take back an extension: the warranty end moves back by its days; audited."""
    if not reason or not reason.strip():
        raise ApplicationError(_("Give a reason for taking the extension back."))
    locked = Unit.objects.select_for_update().get(pk=extension.unit_id)
    extension = WarrantyExtension.objects.get(pk=extension.pk)
    if extension.days <= 0:
        raise ApplicationError(_("Only an extension can be taken back."))
    if WarrantyExtension.objects.filter(reverses=extension).exists():
        raise ApplicationError(_("This extension was taken back already."))
    return _move_warranty(
        locked,
        days=-extension.days,
        actor=actor,
        reason=reason,
        reason_zh=reason_zh,
        source=f"{extension.source}:reversal" if extension.source else "",
        reverses=extension,
    )


def _move_warranty(
    locked: Unit,
    *,
    days: int,
    actor: Any,
    reason: str,
    reason_zh: str,
    source: str,
    reverses: WarrantyExtension | None = None,
) -> WarrantyExtension:
    before = locked.warranty_ends_on
    locked.warranty_ends_on = before + dt.timedelta(days=days)
    locked.save(update_fields=["warranty_ends_on", "updated_at"])
    extension = WarrantyExtension.objects.create(
        unit=locked,
        days=days,
        ends_before=before,
        ends_after=locked.warranty_ends_on,
        reason_en=reason.strip()[:300],
        reason_zh=reason_zh.strip()[:300],
        source=source,
        reverses=reverses,
    )
    audit_record(
        action="unit.warranty_reversed" if reverses else "unit.warranty_extended",
        actor=actor,
        target=locked,
        changes={"warranty_ends_on": locked.warranty_ends_on},
        data={
            "days": days,
            "from": before.isoformat(),
            "reason": reason.strip()[:200],
            "source": source,
        },
    )
    return extension
