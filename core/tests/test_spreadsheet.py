"""CSV exports: a cell a spreadsheet would run as a formula (=, +, -, @) is escaped."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.urls import reverse

from audit.services import audit_record
from core.spreadsheet import csv_cell
from testsupport import sign_in

FORMULAS = ["=1+1", "+1+1", "-1+1", "@SUM(A1:A2)", '=HYPERLINK("http://evil.example")']


@pytest.mark.parametrize("value", FORMULAS)
def test_a_cell_starting_like_a_formula_is_escaped_and_reversible(value):
    assert csv_cell(value) == "'" + value
    assert csv_cell("'" + value) == "''" + value  # one dropped quote always gives the value
    assert csv_cell("Plain 1+1") == "Plain 1+1"


@pytest.mark.django_db
def test_the_audit_export_escapes_every_formula_start(client, make_staff):
    for value in FORMULAS:
        audit_record(action="ticket.opened", target_type="tickets.ticket", target_id=value)
    sign_in(client, make_staff(roles=("compliance_officer",), email="officer@welddesk.example"))
    response = client.get(reverse("admin:audit_export"), {"format": "csv"})
    assert response.status_code == 200
    blob = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("audit-events.csv").decode())))
    cells = {cell for row in rows[1:] for cell in row}
    for value in FORMULAS:
        assert "'" + value in cells and value not in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
