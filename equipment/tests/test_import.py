"""Importing the installed base: create, idempotent re-import, audit, errors, export."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts import selectors as account_selectors
from accounts.models import Organisation, User
from audit.models import AuditEvent
from core import crypto
from equipment import services
from equipment.importing import ImportRefused, export, import_installed_base, preview
from equipment.importing.parse import COLUMNS
from equipment.models import Unit
from equipment.tests.conftest import base_row, csv_bytes, xlsx_bytes

pytestmark = pytest.mark.django_db


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_a_csv_file_creates_organisations_contacts_and_units(catalogue, base_file):
    plan = import_installed_base(data=base_file, actor=None)

    assert plan.errors == []
    assert plan.counts_dict()["units"] == {"create": 2, "update": 0, "unchanged": 0}
    acme = Organisation.objects.get(code="ACME-1")
    assert acme.name == "苏州精工焊接有限公司" and acme.region.code == "east"
    assert Organisation.objects.get(code="BETA-2").region.code == "south"
    unit = Unit.objects.get(serial_number="HW2000-2026-0001")
    assert unit.organisation == acme
    assert unit.machine_model.code == "hw-2000"
    assert (unit.site, unit.site_zh, unit.contract_tier) == ("Suzhou plant 2", "苏州二厂", "plus")
    assert unit.warranty_ends_on == dt.date(2028, 1, 10)
    assert Unit.objects.get(serial_number="RC3000-2026-0002").contract_tier == "premium"
    wang = crypto.blind_index("email", "wang.jianguo@jinggong.example")
    contact = User.objects.get(email_bidx=wang)
    assert contact.organisation == acme and contact.full_name == "王建国"
    assert not contact.is_staff and not contact.has_usable_password()
    assert len(_events("unit.created")) == 2
    assert len(_events("user.created")) == 2
    assert len(_events("organisation.created")) == 2
    (event,) = _events("installed_base.imported")
    assert event.data["units"] == {"created": 2, "changed": 0, "unchanged": 0}
    assert len(event.data["sha256"]) == 64


def test_an_xlsx_file_imports_like_csv_with_real_date_cells(catalogue):
    row = base_row()
    cells = [row[c] for c in COLUMNS]
    cells[COLUMNS.index("installed_on")] = dt.datetime(2026, 1, 10)
    cells[COLUMNS.index("warranty_ends_on")] = dt.date(2028, 1, 10)
    cells[COLUMNS.index("contact_phone")] = 13800000001  # a phone typed as a number

    plan = import_installed_base(data=xlsx_bytes([cells]), actor=None)

    assert plan.errors == [] and plan.format == "xlsx"
    unit = Unit.objects.get(serial_number="HW2000-2026-0001")
    assert unit.installed_on == dt.date(2026, 1, 10)
    assert unit.warranty_ends_on == dt.date(2028, 1, 10)
    assert User.objects.get(phone_bidx=crypto.blind_index("phone", "13800000001"))


def test_importing_the_same_file_again_changes_and_audits_nothing(catalogue, base_file):
    import_installed_base(data=base_file, actor=None)
    before = AuditEvent.objects.exclude(action="installed_base.imported").count()
    stamps = dict(Unit.objects.values_list("serial_number", "updated_at"))

    plan = import_installed_base(data=base_file, actor=None)

    assert plan.changes == []
    assert plan.counts_dict()["units"] == {"create": 0, "update": 0, "unchanged": 2}
    assert plan.counts_dict()["contacts"] == {"create": 0, "update": 0, "unchanged": 2}
    assert AuditEvent.objects.exclude(action="installed_base.imported").count() == before
    assert dict(Unit.objects.values_list("serial_number", "updated_at")) == stamps


def test_a_changed_warranty_date_updates_the_unit_and_audits_the_field_name(catalogue):
    import_installed_base(data=csv_bytes([base_row()]), actor=None)

    plan = import_installed_base(
        data=csv_bytes([base_row(warranty_ends_on="2029-06-30")]), actor=None
    )

    assert [(c.kind, c.action, c.fields) for c in plan.changes] == [
        ("unit", "update", ("warranty_ends_on",))
    ]
    unit = Unit.objects.get(serial_number="HW2000-2026-0001")
    assert unit.warranty_ends_on == dt.date(2029, 6, 30)
    (event,) = _events("unit.changed")
    assert event.target_id == str(unit.pk)
    assert event.changed_fields == ["warranty_ends_on"]


def test_a_changed_contact_phone_is_audited_without_the_number(catalogue):
    import_installed_base(data=csv_bytes([base_row()]), actor=None)

    import_installed_base(data=csv_bytes([base_row(contact_phone="+86 139 1111 2222")]), actor=None)

    (event,) = _events("user.profile_changed")
    assert event.changed_fields == ["phone"]
    assert "139" not in str(event.data)
    user = User.objects.get(email_bidx=crypto.blind_index("email", "wang.jianguo@jinggong.example"))
    assert user.phone == "+86 139 1111 2222"
    assert user.phone_bidx == crypto.blind_index("phone", "+86 139 1111 2222")


def test_row_errors_name_line_and_column_and_nothing_is_written(catalogue):
    rows = [
        base_row(),
        base_row(serial_number="HW2000-2026-0003", warranty_ends_on="2025-01-01"),
        base_row(serial_number="HW2000-2026-0004", model="no-such-model"),
        base_row(serial_number="HW2000-2026-0005", installed_on="10/01/2026"),
        base_row(serial_number="HW2000-2026-0001"),
        base_row(organisation_code="NEW-9", organisation_name="", region="", contact_email=""),
    ]

    plan = import_installed_base(data=csv_bytes(rows), actor=None)

    messages = [str(e) for e in plan.errors]
    assert "line 3, warranty_ends_on: Before installed_on." in messages
    assert "line 4, model: Unknown machine model code." in messages
    assert "line 5, installed_on: Use a date of the form YYYY-MM-DD." in messages
    assert "line 6, serial_number: Also on line 2." in messages
    assert "line 7, organisation_name: A new organisation needs its name." in messages
    assert "line 7, region: A new organisation needs its region." in messages
    assert not Unit.objects.exists()
    assert not Organisation.objects.filter(code__in=["ACME-1", "NEW-9"]).exists()
    assert not AuditEvent.objects.filter(action="installed_base.imported").exists()


def test_a_dry_run_writes_nothing_and_tells_what_would_change(catalogue, base_file):
    plan = import_installed_base(data=base_file, actor=None, dry_run=True)

    assert plan.counts_dict()["organisations"]["create"] == 2
    assert [c.key for c in plan.changes if c.kind == "unit"] == [
        "HW2000-2026-0001",
        "RC3000-2026-0002",
    ]
    assert not Unit.objects.exists()
    assert not Organisation.objects.filter(code="ACME-1").exists()
    assert not User.objects.exists()
    assert not AuditEvent.objects.exists()


def test_contacts_are_encrypted_at_rest_and_found_by_their_blind_index(catalogue, base_file):
    import_installed_base(data=base_file, actor=None)
    user = User.objects.get(email_bidx=crypto.blind_index("email", "Li.Na@BETA.example"))

    with connection.cursor() as cursor:
        cursor.execute("SELECT email, full_name, phone FROM accounts_user WHERE id = %s", [user.pk])
        raw = cursor.fetchone()
    assert "li.na" not in raw[0] and "Li Na" not in raw[1]
    assert crypto.decrypt(raw[0]) == "li.na@beta.example"
    assert user.full_name == "Li Na"


def test_a_serial_of_another_organisation_is_refused_unless_moving(catalogue, make_org):
    other = make_org("Other Co")
    services.unit_create(
        actor=None,
        serial_number="HW2000-2026-0001",
        machine_model=catalogue["hw-2000"],
        organisation=other,
        installed_on=dt.date(2026, 1, 10),
    )
    data = csv_bytes([base_row()])

    plan = import_installed_base(data=data, actor=None)

    assert [str(e) for e in plan.errors] == [
        "line 2, serial_number: This unit belongs to another organisation; import with the "
        "option to move units to move it."
    ]
    assert Unit.objects.get(serial_number="HW2000-2026-0001").organisation == other
    assert not Organisation.objects.filter(code="ACME-1").exists()

    plan = import_installed_base(data=data, actor=None, move=True)

    assert plan.errors == []
    moved = Unit.objects.get(serial_number="HW2000-2026-0001")
    assert moved.organisation.code == "ACME-1"
    assert "organisation" in _events("unit.changed")[-1].changed_fields


def test_an_address_of_another_organisations_user_is_refused(catalogue, make_customer):
    make_customer(email="wang.jianguo@jinggong.example")

    plan = import_installed_base(data=csv_bytes([base_row()]), actor=None)

    assert [str(e) for e in plan.errors] == [
        "line 2, contact_email: This address belongs to a user outside this organisation."
    ]
    assert not Unit.objects.exists()


def test_bad_files_are_refused_as_a_whole(catalogue):
    with pytest.raises(ImportRefused, match="first row must name the columns"):
        preview(data=b"serial,model\nX,Y\n")
    with pytest.raises(ImportRefused, match="neither an XLSX workbook nor a CSV"):
        preview(data=b"\x89PNG\r\n\x1a\n\x00\x00binary")
    with pytest.raises(ImportRefused, match="neither an XLSX workbook nor a CSV"):
        preview(data=b"PK\x03\x04 not really a zip")
    with pytest.raises(ImportRefused, match="empty"):
        preview(data=b"")
    with pytest.raises(ImportRefused, match="Old Excel"):
        preview(data=b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 an .xls")


def test_too_large_files_and_too_many_rows_are_refused(catalogue, monkeypatch):
    from equipment.importing import parse

    monkeypatch.setattr(parse, "MAX_ROWS", 2)
    rows = [base_row(serial_number=f"HW2000-2026-000{n}") for n in range(1, 4)]
    with pytest.raises(ImportRefused, match="more than 2 rows"):
        preview(data=csv_bytes(rows))
    assert preview(data=csv_bytes(rows[:2]) + b",,,,,,,,,,,,\n" * 3).rows == 2
    monkeypatch.setattr(parse, "MAX_BYTES", 100)
    with pytest.raises(ImportRefused, match="larger than"):
        preview(data=csv_bytes(rows))


def test_formula_cells_are_row_errors(catalogue):
    row = base_row()
    cells = [row[c] for c in COLUMNS]
    cells[COLUMNS.index("site")] = '=HYPERLINK("http://evil.example")'

    plan = preview(data=xlsx_bytes([cells]))

    assert [str(e) for e in plan.errors] == [
        "line 2, site: A formula is not accepted; paste the value instead."
    ]
    plan = preview(data=csv_bytes([base_row(site_zh="=1+2")]))
    assert [e.column for e in plan.errors] == ["site_zh"]


def test_export_is_safe_to_open_and_imports_back_without_change(catalogue, base_file):
    import_installed_base(
        data=csv_bytes([base_row(site="=cmd|' /C calc'!A0", contact_phone="+86 138 0000 0001")]),
        actor=None,
    )
    import_installed_base(data=base_file, actor=None)
    unit = Unit.objects.get(serial_number="HW2000-2026-0001")
    services.unit_extend_warranty(unit=unit, days=30, actor=None, reason="goodwill")

    for fmt in ("csv", "xlsx"):
        organisations = account_selectors.organisations_for_export()
        data = export(fmt=fmt, organisations=organisations, units=Unit.objects.all())
        if fmt == "csv":
            text = data.decode("utf-8-sig")
            assert "\n=" not in text and ",=" not in text
            assert "'+86 138 0000 0001" in text

        plan = import_installed_base(data=data, actor=None)

        assert plan.errors == [] and plan.changes == [], fmt
    assert Unit.objects.get(pk=unit.pk).warranty_ends_on == dt.date(2028, 2, 9)


def test_the_commands_import_with_a_dry_run_and_export(catalogue, base_file, tmp_path):
    source = tmp_path / "base.csv"
    source.write_bytes(base_file)
    out = io.StringIO()

    call_command("import_installed_base", str(source), "--dry-run", stdout=out)

    assert "units: 2 to create" in out.getvalue() and "dry run" in out.getvalue()
    assert not Unit.objects.exists()
    call_command("import_installed_base", str(source), stdout=io.StringIO())
    assert Unit.objects.count() == 2
    target = tmp_path / "out.xlsx"
    call_command("export_installed_base", str(target), "--format", "xlsx", stdout=io.StringIO())
    out = io.StringIO()
    call_command("import_installed_base", str(target), "--dry-run", stdout=out)
    assert "units: 0 to create, 0 to update, 2 unchanged" in out.getvalue()

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([base_row(warranty_ends_on="2020-01-01")]))
    with pytest.raises(CommandError, match="1 errors: nothing was imported"):
        call_command("import_installed_base", str(bad), stdout=io.StringIO(), stderr=io.StringIO())


def test_an_actor_who_is_no_supervisor_is_refused(catalogue, base_file, make_staff):
    agent = make_staff(roles=("agent",))
    with pytest.raises(ImportRefused):
        import_installed_base(data=base_file, actor=agent)
    supervisor = make_staff(roles=("supervisor",))
    plan = import_installed_base(data=base_file, actor=supervisor)
    assert plan.errors == []
    assert _events("installed_base.imported")[0].actor_ref == f"user:{supervisor.pk}"


@pytest.mark.audit_deferred
def test_with_deferred_sealing_every_change_waits_as_a_pending_event(catalogue, base_file):
    from audit.models import PendingAuditEvent

    import_installed_base(data=base_file, actor=None)

    actions = sorted(PendingAuditEvent.objects.values_list("action", flat=True))
    assert actions == sorted(
        ["organisation.created"] * 2
        + ["user.created"] * 2
        + ["unit.created"] * 2
        + ["installed_base.imported"]
    )


def test_the_import_command_names_the_supervisor_given_by_actor(
    catalogue, base_file, make_staff, tmp_path
):
    source = tmp_path / "base.csv"
    source.write_bytes(base_file)
    supervisor = make_staff(roles=("supervisor",), email="lead@welddesk.example")
    make_staff(roles=("agent",), email="agent@welddesk.example")

    for who in ("agent@welddesk.example", "nobody@welddesk.example"):
        with pytest.raises(CommandError, match="--actor must be the e-mail"):
            call_command("import_installed_base", str(source), "--actor", who)
    assert not Unit.objects.exists()
    call_command(
        "import_installed_base",
        str(source),
        "--actor",
        "Lead@WeldDesk.example",
        stdout=io.StringIO(),
    )

    (event,) = _events("installed_base.imported")
    assert event.actor_ref == f"user:{supervisor.pk}"


@pytest.mark.parametrize("organisations", [1, 30])
def test_the_export_command_costs_the_same_queries_for_one_organisation_or_many(
    catalogue, organisations, tmp_path, django_assert_num_queries
):
    rows = [
        base_row(
            organisation_code=f"ORG-{n}",
            contact_email=f"buyer{n}@factory.example",
            serial_number=f"HW2000-2026-{n:04d}",
        )
        for n in range(organisations)
    ]
    import_installed_base(data=csv_bytes(rows), actor=None)

    # organisations, units, warranty extensions, contacts; the unit count, and the audit row
    # of the export (the chain head read, the row written, the head moved on)
    with django_assert_num_queries(8):
        call_command("export_installed_base", str(tmp_path / "out.csv"), stdout=io.StringIO())
