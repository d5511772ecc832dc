"""Fixtures of the equipment tests: catalogue models and installed-base files."""

from __future__ import annotations

import csv
import io

import pytest

from equipment.importing.parse import COLUMNS
from equipment.models import MachineModel, ProductLine


@pytest.fixture
def catalogue(db):
    """Two models an import can name: hw-2000 (handheld) and rc-3000 (robotic)."""
    return {
        "hw-2000": MachineModel.objects.create(
            code="hw-2000",
            name="HW-2000 handheld welder",
            product_line=ProductLine.HANDHELD,
            wavelength_nm=1080,
            max_power_w=2000,
        ),
        "rc-3000": MachineModel.objects.create(
            code="rc-3000",
            name="RC-3000 robotic cell",
            product_line=ProductLine.ROBOTIC,
            wavelength_nm=1070,
            max_power_w=3000,
        ),
    }


def base_row(**cells: str) -> dict[str, str]:
    """One row of the ERP's export: organisation ACME-1, a contact and one unit."""
    row = {
        "organisation_code": "ACME-1",
        "organisation_name": "苏州精工焊接有限公司",
        "region": "east",
        "contact_name": "王建国",
        "contact_email": "wang.jianguo@jinggong.example",
        "contact_phone": "+86 138 0000 0001",
        "serial_number": "HW2000-2026-0001",
        "model": "hw-2000",
        "site": "Suzhou plant 2",
        "site_zh": "苏州二厂",
        "installed_on": "2026-01-10",
        "warranty_ends_on": "2028-01-10",
        "contract_tier": "plus",
    }
    row.update(cells)
    return row


def csv_bytes(rows: list[dict[str, str]], columns=COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[list[object]], header=COLUMNS) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@pytest.fixture
def base_file():
    """A file of two organisations: ACME-1 with one contact and two units, BETA-2 with one
    contact and no unit."""
    return csv_bytes(
        [
            base_row(),
            base_row(
                organisation_name="",
                region="",
                contact_name="",
                contact_email="",
                contact_phone="",
                serial_number="RC3000-2026-0002",
                model="rc-3000",
                site="Suzhou plant 1",
                site_zh="",
                contract_tier="premium",
            ),
            base_row(
                organisation_code="BETA-2",
                organisation_name="Beta Robotics",
                region="south",
                contact_name="Li Na",
                contact_email="li.na@beta.example",
                contact_phone="",
                serial_number="",
                model="",
                site="",
                site_zh="",
                installed_on="",
                warranty_ends_on="",
                contract_tier="",
            ),
        ]
    )
