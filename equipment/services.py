"""Every write to the equipment registry: validated, atomic and audited."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation, Tier
from audit.services import audit_record, audit_record_many
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


@dataclass(frozen=True)
class WarrantyMove:
    """One extension asked of `units_extend_warranty_many`: a unit, days and why."""

    unit_id: int
    days: int
    reason: str
    reason_zh: str = ""
    source: str = ""


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
    kept as history the customer sees. A non-empty `source` extends a unit only once.

    The batch service below is the one home of the rule; this is it for one unit.
    """
    move = WarrantyMove(
        unit_id=unit.pk, days=days, reason=reason, reason_zh=reason_zh, source=source
    )
    (extension,) = units_extend_warranty_many(moves=[move], actor=actor)
    if extension is None:
        raise Unit.DoesNotExist(f"Unit {unit.pk} does not exist.")
    return extension


@transaction.atomic
def units_extend_warranty_many(
    *, moves: Sequence[WarrantyMove], actor: Any
) -> list[WarrantyExtension | None]:
    """Extend many units' warranties at a fixed number of statements, whatever their number.

    For compensation's approval of thousands of grants: the units are locked in one
    SELECT ... FOR UPDATE in primary-key order (two approvals never deadlock), the sources
    already applied are read in one query, then one update of the ends, one insert of the
    history rows and one insert of the audit events, each with the content `unit_extend_warranty`
    gives one unit. Returns, for each move in order, its new history row, the earlier one of
    the same unit and source (applied once only), or None for a unit that no longer exists.
    A unit moved twice in one call (two sources) is moved in turn, one round per move.
    """
    for move in moves:
        if not isinstance(move.days, int) or move.days <= 0 or move.days > 3650:
            raise ApplicationError(_("A warranty extension is 1 to 3650 days."))
        if not move.reason or not move.reason.strip():
            raise ApplicationError(_("Give a reason for the warranty extension."))
    if not moves:
        return []
    units = {
        unit.pk: unit
        for unit in Unit.objects.select_for_update()
        .filter(pk__in=sorted({m.unit_id for m in moves}))
        .order_by("pk")
    }
    sources = sorted({m.source for m in moves if m.source})
    done: dict[tuple[int, str], WarrantyExtension] = {}
    if sources:
        for extension in WarrantyExtension.objects.filter(
            unit_id__in=sorted(units), source__in=sources
        ):
            done.setdefault((extension.unit_id, extension.source), extension)
    out: list[WarrantyExtension | None] = []
    todo: list[tuple[int, Unit, WarrantyMove]] = []
    taken: set[tuple[int, str]] = set()
    for n, move in enumerate(moves):
        unit = units.get(move.unit_id)
        key = (move.unit_id, move.source)
        known = done.get(key) if move.source else None
        out.append(known)
        if unit is None or known is not None:
            continue
        if move.source:
            if key in taken:
                continue  # answered below with the first move's row
            taken.add(key)
        todo.append((n, unit, move))
    created = _move_warranties(
        [(unit, m.days, m.reason, m.reason_zh, m.source, None) for _n, unit, m in todo],
        actor=actor,
    )
    for (n, _unit, _move), extension in zip(todo, created, strict=True):
        out[n] = extension
    # A second move of the same unit and source in this call answers with the first one's row.
    by_key = {(e.unit_id, e.source): e for e in created if e.source}
    for n, move in enumerate(moves):
        if out[n] is None and move.unit_id in units and move.source:
            out[n] = by_key.get((move.unit_id, move.source))
    return out


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
    source = f"{extension.source}:reversal" if extension.source else ""
    (reversal,) = _move_warranties(
        [(locked, -extension.days, reason, reason_zh, source, extension)], actor=actor
    )
    return reversal


# (locked unit, days, reason, reason in Chinese, source, the extension it reverses)
_Move = tuple[Unit, int, str, str, str, "WarrantyExtension | None"]


def _move_warranties(moves: list[_Move], *, actor: Any) -> list[WarrantyExtension]:
    """Move locked units' warranty ends: the end, a history row and an audit event each.

    Set-based: one round per time a unit recurs (usually one), and in each round one update,
    one insert of history rows and one of audit events, whatever the number of units.
    """
    rounds: list[list[int]] = []
    seen: dict[int, int] = {}
    for n, (unit, *_rest) in enumerate(moves):
        k = seen.get(unit.pk, 0)
        seen[unit.pk] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(n)
    out: list[WarrantyExtension | None] = [None] * len(moves)
    for numbers in rounds:
        now = timezone.now()
        extensions: list[WarrantyExtension] = []
        befores: dict[int, dt.date] = {}
        for n in numbers:
            unit, days, reason, reason_zh, source, reverses = moves[n]
            befores[n] = before = unit.warranty_ends_on
            unit.warranty_ends_on = before + dt.timedelta(days=days)
            unit.updated_at = now
            extensions.append(
                WarrantyExtension(
                    unit=unit,
                    days=days,
                    ends_before=before,
                    ends_after=unit.warranty_ends_on,
                    reason_en=reason.strip()[:300],
                    reason_zh=reason_zh.strip()[:300],
                    source=source,
                    reverses=reverses,
                )
            )
        _save_warranty_ends([moves[n][0] for n in numbers], now)
        WarrantyExtension.objects.bulk_create(extensions)
        for n, extension in zip(numbers, extensions, strict=True):
            out[n] = extension
        for reversal in (True, False):
            picked = [n for n in numbers if (moves[n][5] is not None) is reversal]
            if not picked:
                continue
            audit_record_many(
                action="unit.warranty_reversed" if reversal else "unit.warranty_extended",
                actor=actor,
                model=Unit,
                target_ids=[moves[n][0].pk for n in picked],
                per_target_changes={
                    moves[n][0].pk: {"warranty_ends_on": moves[n][0].warranty_ends_on}
                    for n in picked
                },
                per_target={
                    moves[n][0].pk: {
                        "days": moves[n][1],
                        "from": befores[n].isoformat(),
                        "reason": moves[n][2].strip()[:200],
                        "source": moves[n][4],
                    }
                    for n in picked
                },
            )
    return out  # type: ignore[return-value]  # every move was made


# The new ends in one statement: (id, end) rows as arrays on PostgreSQL (a CASE per row, as
# `bulk_update` builds it, costs more than the update itself for a thousand units).
_SET_ENDS = (
    "UPDATE {table} AS u SET warranty_ends_on = v.ends, updated_at = %s"
    " FROM unnest(%s::bigint[], %s::date[]) AS v(id, ends) WHERE u.id = v.id"
)


def _save_warranty_ends(units: list[Unit], now: dt.datetime) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _SET_ENDS.format(table=connection.ops.quote_name(Unit._meta.db_table)),
                [now, [u.pk for u in units], [u.warranty_ends_on for u in units]],
            )
        return
    Unit.objects.bulk_update(units, ["warranty_ends_on", "updated_at"])
