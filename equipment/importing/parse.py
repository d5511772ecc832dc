"""Reading an installed-base file (CSV or XLSX) into rows of text cells, or refusing it.

The format is one table (docs/operations.md, "Importing the installed base"): a header row
with the COLUMNS in any order, then one row per unit, organisation or contact. A line number
is the row number a spreadsheet shows (the header is line 1), for CSV and XLSX alike.

Refused as a whole (ImportRefused, a 400 in the admin): a file that is neither UTF-8 CSV nor
XLSX, too large, with too many rows, or whose header lacks or adds columns. A formula cell
(XLSX) or a cell starting with "=" (CSV) is an error of its row: a value is wanted, and a
formula's cached result may be stale.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from core.errors import ApplicationError

COLUMNS = (
    "organisation_code",
    "organisation_name",
    "region",
    "contact_name",
    "contact_email",
    "contact_phone",
    "serial_number",
    "model",
    "site",
    "site_zh",
    "installed_on",
    "warranty_ends_on",
    "contract_tier",
)
# Under nginx's client_max_body_size (21m, deploy/nginx); 100,000 units are about 9 MB.
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
# An XLSX is a zip: refuse one that would unpack to more than this (a "zip bomb").
MAX_UNPACKED = 256 * 1024 * 1024
MAX_CELL = 1000


class ImportRefused(ApplicationError):
    """The file as a whole cannot be read; nothing was planned or written."""


@dataclass
class Row:
    line: int
    cells: dict[str, str]
    # (column, message) found while reading, e.g. a formula.
    problems: list[tuple[str, str]] = field(default_factory=list)


def _text(value: object) -> str:
    """A cell as text: dates as YYYY-MM-DD, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unquote(text: str) -> str:
    """Drop the one apostrophe an export put before a value that would start a formula
    (core.spreadsheet.csv_cell), so that export -> import gives the value back."""
    return text[1:] if text.startswith("'") else text


def _header(cells: list[str]) -> list[str]:
    names = [c.strip().lstrip("\ufeff").strip().lower() for c in cells]
    while names and not names[-1]:
        names.pop()
    missing = [c for c in COLUMNS if c not in names]
    unknown = [c for c in names if c not in COLUMNS]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if missing or unknown or duplicated:
        parts = []
        if missing:
            parts.append(_("missing: %(c)s") % {"c": ", ".join(missing)})
        if unknown:
            parts.append(_("unknown: %(c)s") % {"c": ", ".join(c or '""' for c in unknown)})
        if duplicated:
            parts.append(_("repeated: %(c)s") % {"c": ", ".join(duplicated)})
        raise ImportRefused(
            _("The first row must name the columns %(cols)s (%(problems)s).")
            % {"cols": ", ".join(COLUMNS), "problems": "; ".join(parts)},
            code="bad_header",
        )
    return names


def _row(line: int, names: list[str], values: list[tuple[str, bool]]) -> Row | None:
    """A row from (text, is_formula) cells; None for a blank row."""
    if len(values) > len(names) and any(text.strip() for text, _f in values[len(names) :]):
        return Row(line, {}, [("", _("This row has more cells than the header has columns."))])
    cells: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for name, (text, formula) in zip(names, values, strict=False):
        if formula:
            problems.append((name, _("A formula is not accepted; paste the value instead.")))
            text = ""
        elif len(text) > MAX_CELL:
            problems.append((name, _("The cell is too long.")))
            text = ""
        cells[name] = _unquote(text.strip())
    if not problems and not any(cells.values()):
        return None
    for name in names[len(values) :]:
        cells.setdefault(name, "")
    return Row(line, cells, problems)


def _count(rows: list[Row], number: int, row: Row | None) -> None:
    """Refuse a file of more than MAX_ROWS rows with data (blank rows, such as the formatted
    but empty rows a spreadsheet may save, count only towards a far larger limit)."""
    if (row is not None and len(rows) >= MAX_ROWS) or number > 5 * MAX_ROWS:
        raise ImportRefused(
            _("The file has more than %(n)s rows; split it.") % {"n": MAX_ROWS},
            code="too_many_rows",
        )


def _csv_rows(data: bytes) -> list[Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            _("The file is neither an XLSX workbook nor a CSV file in UTF-8."), code="bad_file"
        ) from exc
    if "\x00" in text:
        raise ImportRefused(
            _("The file is neither an XLSX workbook nor a CSV file in UTF-8."), code="bad_file"
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        names = _header(next(reader, []))
        rows = []
        for number, cells in enumerate(reader, start=2):
            # In CSV a value is text; one starting with "=" was meant as a formula.
            row = _row(number, names, [(c, c.strip().startswith("=")) for c in cells])
            _count(rows, number, row)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        raise ImportRefused(
            _("The CSV file cannot be read (line %(n)s).") % {"n": reader.line_num},
            code="bad_file",
        ) from exc
    return rows


def _xlsx_rows(data: bytes) -> list[Row]:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED:
                raise ImportRefused(_("The workbook is too large."), code="too_large")
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=False, keep_links=False
        )
    except ImportRefused:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise ImportRefused(
            _("The file is neither an XLSX workbook nor a CSV file in UTF-8."), code="bad_file"
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        lines = sheet.iter_rows()
        header = next(lines, ())
        names = _header([_text(cell.value) for cell in header])
        rows = []
        for number, cells in enumerate(lines, start=2):
            values = [(_text(cell.value), cell.data_type == "f") for cell in cells]
            row = _row(number, names, values)
            _count(rows, number, row)
            if row is not None:
                rows.append(row)
        return rows
    finally:
        workbook.close()


def read(data: bytes) -> tuple[str, list[Row]]:
    """Return ("csv" or "xlsx", the non-blank rows), or raise ImportRefused."""
    if not data:
        raise ImportRefused(_("The file is empty."), code="empty")
    if len(data) > MAX_BYTES:
        raise ImportRefused(
            _("The file is larger than %(mb)s MB; split it.") % {"mb": MAX_BYTES // 2**20},
            code="too_large",
        )
    if data.startswith(b"PK\x03\x04"):
        return "xlsx", _xlsx_rows(data)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportRefused(
            _("Old Excel (.xls) files are not read; save the sheet as XLSX or CSV."),
            code="bad_file",
        )
    return "csv", _csv_rows(data)
