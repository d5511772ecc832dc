"""The installed base written in the import's own format (CSV or XLSX), so export -> import
changes nothing.

One block of rows per organisation (by code): row i carries the organisation, its i-th
contact (active customer users, by e-mail) and its i-th unit (by serial number), so an
organisation takes max(contacts, units, 1) rows. warranty_ends_on is the contractual end,
without the extensions the desk granted (an import adds them again). Every cell goes through
core.spreadsheet.csv_cell, so no value starts a formula when the file is opened, and the
import drops that one leading apostrophe again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from itertools import zip_longest
from typing import Any

from django.db.models import QuerySet, Sum

from accounts import selectors as account_selectors
from audit.services import audit_record
from core.spreadsheet import csv_cell
from equipment.importing.parse import COLUMNS
from equipment.models import Unit, WarrantyExtension


def rows(*, organisations: list[dict[str, Any]], units: QuerySet[Unit]) -> Iterator[list[str]]:
    """The data rows (no header) for these organisations (accounts.selectors.
    organisations_for_export, in their order) and, of their units, these."""
    by_org: dict[int, list[dict[str, Any]]] = {}
    unit_rows = units.filter(organisation_id__in=[o["pk"] for o in organisations]).values(
        "pk",
        "organisation_id",
        "serial_number",
        "machine_model__code",
        "site",
        "site_zh",
        "installed_on",
        "warranty_ends_on",
        "contract_tier",
    )
    for unit in unit_rows.order_by("serial_number").iterator(chunk_size=5000):
        by_org.setdefault(unit["organisation_id"], []).append(unit)
    extended = dict(WarrantyExtension.objects.values_list("unit_id").annotate(days=Sum("days")))
    contacts = account_selectors.contacts_of(o["pk"] for o in organisations)
    for org in organisations:
        head = [org["code"], org["name"], org["region__code"]]
        people = contacts.get(org["pk"], [])
        machines = by_org.get(org["pk"], [])
        for person, unit in zip_longest(people, machines) if people or machines else [(None, None)]:
            row = list(head)
            row += (
                [person["full_name"], person["email"], person["phone"]] if person else ["", "", ""]
            )
            if unit:
                ends = unit["warranty_ends_on"] - dt.timedelta(days=extended.get(unit["pk"], 0))
                row += [
                    unit["serial_number"],
                    unit["machine_model__code"],
                    unit["site"],
                    unit["site_zh"],
                    unit["installed_on"].isoformat(),
                    ends.isoformat(),
                    unit["contract_tier"],
                ]
            else:
                row += [""] * 7
            yield [csv_cell(value) for value in row]


def write_csv(data_rows: Iterator[list[str]]) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads Chinese correctly), CRLF line ends."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(data_rows)
    return out.getvalue().encode("utf-8")


def write_xlsx(data_rows: Iterator[list[str]]) -> bytes:
    """One sheet of text cells. openpyxl would store a string starting with "=" as a formula;
    csv_cell has already put an apostrophe before every such value."""
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("installed_base")
    sheet.append(list(COLUMNS))
    for values in data_rows:
        sheet.append(values)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def export(*, fmt: str, organisations: list[dict[str, Any]], units: QuerySet[Unit]) -> bytes:
    data_rows = rows(organisations=organisations, units=units)
    return write_xlsx(data_rows) if fmt == "xlsx" else write_csv(data_rows)


def export_recorded(*, actor: Any, fmt: str, units: int) -> None:
    """Audit an export: it carries the contacts' personal data out of the desk."""
    audit_record(
        action="installed_base.exported",
        actor=actor,
        target_type="equipment.unit",
        target_id="",
        data={"format": fmt, "units": units},
    )
