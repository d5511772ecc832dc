"""Checking every row of an installed-base file and working out what an import would change.

`build` reads the rows (parse.Row), the desk's regions, machine models and the organisations,
contacts and units the file names (a few queries per 2,000 keys, never one per row), and
returns a Plan: the row errors with their line and column, what would be created, updated or
left alone, and the wanted values that apply.py writes. A dry run is exactly this.

Rules (docs/operations.md, "Importing the installed base"):
- Every row names its organisation by code. A new organisation needs a name and a region;
  for a known one they may be left blank (kept), and rows of one organisation must agree.
- A row with a contact e-mail describes a customer user of that organisation (the first row
  naming the address gives the name and phone; later rows may leave them blank or repeat
  them). An address held by staff or by another organisation's user is an error.
- A row with a serial number describes a unit; every unit column is then the unit's full
  state (a blank site clears it). A serial owned by another organisation is an error unless
  the import was asked to move units (`move`).
- warranty_ends_on is the contractual end from the ERP. Extensions the desk granted
  (compensation, goodwill; WarrantyExtension) are added on top, and an export takes them off
  again, so an ERP re-import never takes back a granted extension.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Sum
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from accounts.models import Region, Tier
from accounts.services import contact_problems, organisation_problems
from core import crypto
from equipment.importing.parse import Row
from equipment.models import MachineModel, Unit, WarrantyExtension
from equipment.services import SERIAL_RE, normalise_serial

CHUNK = 2000
UNIT_COLUMNS = ("model", "site", "site_zh", "installed_on", "warranty_ends_on", "contract_tier")
CONTACT_COLUMNS = ("contact_name", "contact_phone")
# The unit fields an import sets (firmware and the rest stay as the desk keeps them).
UNIT_FIELDS = (
    "machine_model_id",
    "organisation_id",
    "site",
    "site_zh",
    "installed_on",
    "warranty_ends_on",
    "contract_tier",
)
# Field names as the audit rows and the preview name them.
FIELD_LABELS = {"machine_model_id": "machine_model", "organisation_id": "organisation"}


@dataclass
class RowError:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        if self.column:
            return _("line %(line)s, %(column)s: %(message)s") % {
                "line": self.line,
                "column": self.column,
                "message": self.message,
            }
        return _("line %(line)s: %(message)s") % {"line": self.line, "message": self.message}


@dataclass
class Change:
    line: int
    kind: str  # organisation, contact, unit
    key: str  # code, e-mail address, serial number
    action: str  # create, update
    fields: tuple[str, ...] = ()


@dataclass
class WantedOrg:
    line: int
    code: str
    name: str = ""
    region: Region | None = None
    existing: dict[str, Any] | None = None


@dataclass
class WantedPerson:
    line: int
    email: str
    org_code: str
    full_name: str = ""
    phone: str = ""


@dataclass
class WantedUnit:
    line: int
    serial: str
    org_code: str
    values: dict[str, Any]  # UNIT_FIELDS except organisation_id; warranty as stored
    existing: dict[str, Any] | None = None


@dataclass
class Plan:
    format: str = ""
    rows: int = 0
    sha256: str = ""
    move: bool = False
    errors: list[RowError] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    organisations: dict[str, WantedOrg] = field(default_factory=dict)
    contacts: dict[str, WantedPerson] = field(default_factory=dict)  # by blind index
    units: dict[str, WantedUnit] = field(default_factory=dict)
    counts: dict[str, Counter] = field(
        default_factory=lambda: {k: Counter() for k in ("organisations", "contacts", "units")}
    )

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts_dict(self) -> dict[str, dict[str, int]]:
        return {
            kind: {a: counter[a] for a in ("create", "update", "unchanged")}
            for kind, counter in self.counts.items()
        }


def _date(text: str) -> dt.date | None:
    if len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _chunks(items: list[Any]):
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _units_by_serial(serials: list[str]) -> Iterator[dict[str, Any]]:
    """The registered units among these serial numbers, as dicts of UNIT_FIELDS (and pk)."""
    if connection.vendor != "postgresql":
        for chunk in _chunks(serials):
            yield from Unit.objects.filter(serial_number__in=chunk).values(
                "pk", "serial_number", *UNIT_FIELDS
            )
        return
    # One statement joined to an array. An IN list of 2,000 server-side parameters is
    # prepared after five runs (servicedesk/settings.py) and its generic plan compares every
    # row of the table with every parameter: 2 to 4 s a chunk at 100,000 units.
    sql = (
        "SELECT u.id, u.serial_number, u.machine_model_id, u.organisation_id, u.site, "
        "u.site_zh, u.installed_on, u.warranty_ends_on, u.contract_tier FROM equipment_unit u "
        "JOIN unnest(%s::text[]) AS s(serial) ON u.serial_number = s.serial"
    )
    keys = ["pk", "serial_number", *UNIT_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(sql, [serials])
        for row in cursor.fetchall():
            yield dict(zip(keys, row, strict=True))


class _Builder:
    def __init__(self, plan: Plan, *, move: bool) -> None:
        self.plan = plan
        self.move = move
        self.regions = account_selectors.regions_by_code()
        self.models = {
            code.lower(): pk for pk, code in MachineModel.objects.values_list("pk", "code")
        }
        self.serial_lines: dict[str, int] = {}

    def error(self, line: int, column: str, message: str) -> None:
        self.plan.errors.append(RowError(line, column, message))

    # ------------------------------------------------------------------ one row at a time

    def row(self, row: Row) -> None:
        for column, message in row.problems:
            self.error(row.line, column, message)
        if row.problems:
            return
        cells = row.cells
        code = cells["organisation_code"]
        if not code:
            self.error(row.line, "organisation_code", _("Every row needs the organisation code."))
            return
        org_ok = self.organisation(row.line, code, cells)
        if cells["contact_email"]:
            self.contact(row.line, code, cells)
        elif any(cells[c] for c in CONTACT_COLUMNS):
            self.error(
                row.line, "contact_email", _("A contact's name or phone needs their e-mail.")
            )
        if cells["serial_number"]:
            self.unit(row.line, code, cells, org_ok)
        elif any(cells[c] for c in UNIT_COLUMNS):
            self.error(row.line, "serial_number", _("The unit's columns need its serial number."))

    def organisation(self, line: int, code: str, cells: dict[str, str]) -> bool:
        problems = organisation_problems(code=code, name=cells["organisation_name"] or "-")
        if "code" in problems:
            self.error(line, "organisation_code", problems["code"])
            return False
        if "name" in problems:
            self.error(line, "organisation_name", problems["name"])
        wanted = self.plan.organisations.setdefault(code, WantedOrg(line=line, code=code))
        name = cells["organisation_name"].strip()
        if name:
            if not wanted.name:
                wanted.name = name
            elif wanted.name != name:
                self.error(
                    line,
                    "organisation_name",
                    _("Differs from the name given on line %(line)s.") % {"line": wanted.line},
                )
        region_code = cells["region"].strip().lower()
        if region_code:
            region = self.regions.get(region_code)
            if region is None:
                self.error(
                    line,
                    "region",
                    _("Unknown region; use one of %(codes)s.")
                    % {"codes": ", ".join(sorted(self.regions))},
                )
            elif wanted.region is None:
                wanted.region = region
            elif wanted.region != region:
                self.error(
                    line,
                    "region",
                    _("Differs from the region given on line %(line)s.") % {"line": wanted.line},
                )
        return True

    def contact(self, line: int, code: str, cells: dict[str, str]) -> None:
        email = crypto.normalise_email(cells["contact_email"])
        name, phone = cells["contact_name"].strip(), cells["contact_phone"].strip()
        problems = contact_problems(email=email, full_name=name or "-", phone=phone)
        for key, column in (
            ("email", "contact_email"),
            ("full_name", "contact_name"),
            ("phone", "contact_phone"),
        ):
            if key in problems:
                self.error(line, column, problems[key])
        if "email" in problems:
            return
        index = crypto.blind_index("email", email)
        wanted = self.plan.contacts.get(index)
        if wanted is None:
            self.plan.contacts[index] = WantedPerson(line, email, code, name, phone)
            return
        if wanted.org_code != code:
            self.error(
                line,
                "contact_email",
                _("The same address is a contact of %(code)s on line %(line)s.")
                % {"code": wanted.org_code, "line": wanted.line},
            )
            return
        for column, attribute, value in (
            ("contact_name", "full_name", name),
            ("contact_phone", "phone", phone),
        ):
            if not value:
                continue
            if not getattr(wanted, attribute):
                setattr(wanted, attribute, value)
            elif getattr(wanted, attribute) != value:
                self.error(
                    line,
                    column,
                    _("Differs from the value given on line %(line)s.") % {"line": wanted.line},
                )

    def unit(self, line: int, code: str, cells: dict[str, str], org_ok: bool) -> None:
        serial = normalise_serial(cells["serial_number"])
        if not SERIAL_RE.match(serial):
            self.error(
                line,
                "serial_number",
                _("Use 4 to 40 letters, digits and hyphens, e.g. HW2000-2026-0042."),
            )
            return
        if serial in self.serial_lines:
            self.error(
                line,
                "serial_number",
                _("Also on line %(line)s.") % {"line": self.serial_lines[serial]},
            )
            return
        self.serial_lines[serial] = line
        errors_before = len(self.plan.errors)
        model_id = self.models.get(cells["model"].strip().lower())
        if model_id is None:
            self.error(
                line,
                "model",
                _("Unknown machine model code.") if cells["model"] else _("Give the model code."),
            )
        values: dict[str, Any] = {"machine_model_id": model_id}
        for name in ("site", "site_zh"):
            if len(cells[name]) > 200:
                self.error(line, name, _("Use at most 200 characters."))
            values[name] = cells[name]
        installed = _date(cells["installed_on"])
        if installed is None:
            self.error(line, "installed_on", _("Use a date of the form YYYY-MM-DD."))
        ends = _date(cells["warranty_ends_on"])
        if ends is None:
            self.error(line, "warranty_ends_on", _("Use a date of the form YYYY-MM-DD."))
        elif installed is not None and ends < installed:
            self.error(line, "warranty_ends_on", _("Before installed_on."))
        tier = cells["contract_tier"].strip().lower() or Tier.STANDARD
        if tier not in Tier.values:
            self.error(
                line,
                "contract_tier",
                _("Use one of %(tiers)s.") % {"tiers": ", ".join(Tier.values)},
            )
        values.update(installed_on=installed, warranty_ends_on=ends, contract_tier=tier)
        if len(self.plan.errors) == errors_before and org_ok:
            self.plan.units[serial] = WantedUnit(line, serial, code, values)

    # ------------------------------------------------------------- against the database

    def resolve_organisations(self) -> dict[str, int]:
        codes = list(self.plan.organisations)
        found = {}
        for chunk in _chunks(codes):
            for row in account_selectors.organisations_by_code(chunk):
                found[row["code"]] = row
        counts = self.plan.counts["organisations"]
        for code, wanted in self.plan.organisations.items():
            existing = found.get(code)
            wanted.existing = existing
            if existing is None:
                if not wanted.name:
                    self.error(
                        wanted.line,
                        "organisation_name",
                        _("A new organisation needs its name."),
                    )
                if wanted.region is None:
                    self.error(wanted.line, "region", _("A new organisation needs its region."))
                counts["create"] += 1
                self.plan.changes.append(Change(wanted.line, "organisation", code, "create"))
                continue
            wanted.name = wanted.name or existing["name"]
            if wanted.region is None:
                wanted.region = next(
                    r for r in self.regions.values() if r.pk == existing["region_id"]
                )
            changed = tuple(
                name
                for name, differs in (
                    ("name", wanted.name != existing["name"]),
                    ("region", wanted.region.pk != existing["region_id"]),
                )
                if differs
            )
            if changed:
                counts["update"] += 1
                self.plan.changes.append(
                    Change(wanted.line, "organisation", code, "update", changed)
                )
            else:
                counts["unchanged"] += 1
        return {code: row["pk"] for code, row in found.items()}

    def resolve_contacts(self, org_ids: dict[str, int]) -> None:
        found = account_selectors.contacts_by_email(w.email for w in self.plan.contacts.values())
        counts = self.plan.counts["contacts"]
        for index, wanted in self.plan.contacts.items():
            existing = found.get(index)
            if existing is None:
                if not wanted.full_name:
                    self.error(wanted.line, "contact_name", _("Enter the person's full name."))
                counts["create"] += 1
                self.plan.changes.append(Change(wanted.line, "contact", wanted.email, "create"))
                continue
            if existing["is_staff"] or existing["organisation_id"] != org_ids.get(wanted.org_code):
                self.error(
                    wanted.line,
                    "contact_email",
                    _("This address belongs to a user outside this organisation."),
                )
                continue
            wanted.full_name = wanted.full_name or existing["full_name"]
            changed = tuple(
                name
                for name, differs in (
                    ("full_name", wanted.full_name != existing["full_name"]),
                    ("phone", wanted.phone != existing["phone"]),
                )
                if differs
            )
            if changed:
                counts["update"] += 1
                self.plan.changes.append(
                    Change(wanted.line, "contact", wanted.email, "update", changed)
                )
            else:
                counts["unchanged"] += 1

    def resolve_units(self, org_ids: dict[str, int]) -> None:
        serials = list(self.plan.units)
        found = {row["serial_number"]: row for row in _units_by_serial(serials)}
        extended = dict(
            WarrantyExtension.objects.filter(unit__serial_number__in=serials)
            .values_list("unit_id")
            .annotate(days=Sum("days"))
            if len(serials) <= CHUNK
            else WarrantyExtension.objects.values_list("unit_id").annotate(days=Sum("days"))
        )
        counts = self.plan.counts["units"]
        for serial, wanted in self.plan.units.items():
            existing = found.get(serial)
            wanted.existing = existing
            org_id = org_ids.get(wanted.org_code)
            if existing is None:
                counts["create"] += 1
                self.plan.changes.append(Change(wanted.line, "unit", serial, "create"))
                continue
            days = extended.get(existing["pk"], 0)
            if days:
                wanted.values["warranty_ends_on"] += dt.timedelta(days=days)
            if existing["organisation_id"] != org_id and not self.move:
                self.error(
                    wanted.line,
                    "serial_number",
                    _(
                        "This unit belongs to another organisation; import with the option "
                        "to move units to move it."
                    ),
                )
                continue
            changed = tuple(
                FIELD_LABELS.get(name, name)
                for name in UNIT_FIELDS
                if (org_id if name == "organisation_id" else wanted.values[name]) != existing[name]
            )
            if changed:
                counts["update"] += 1
                self.plan.changes.append(Change(wanted.line, "unit", serial, "update", changed))
            else:
                counts["unchanged"] += 1


def build(rows: list[Row], *, move: bool = False, fmt: str = "", sha256: str = "") -> Plan:
    """Check every row and work out the changes; writes nothing."""
    plan = Plan(format=fmt, rows=len(rows), sha256=sha256, move=move)
    builder = _Builder(plan, move=move)
    for row in rows:
        builder.row(row)
    org_ids = builder.resolve_organisations()
    builder.resolve_contacts(org_ids)
    builder.resolve_units(org_ids)
    plan.errors.sort(key=lambda e: (e.line, e.column))
    plan.changes.sort(key=lambda c: c.line)
    return plan
