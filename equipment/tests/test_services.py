"""Equipment registry: units, derived warranty status, warranty extension, scoping."""

from __future__ import annotations

import datetime as dt

import pytest
from django.http import Http404

from audit.models import AuditEvent
from core.errors import ApplicationError
from equipment import selectors, services
from equipment.models import MachineModel, ProductLine, Unit, WarrantyStatus


@pytest.fixture
def model(db):
    return MachineModel.objects.create(
        code="rc-3000",
        name="RC-3000 robotic cell",
        product_line=ProductLine.ROBOTIC,
        wavelength_nm=1070,
        max_power_w=3000,
    )


def test_create_normalises_serial_and_defaults_warranty(model, make_org):
    org = make_org()
    unit = services.unit_create(
        actor=None,
        serial_number=" rc3000-2025-0001 ",
        machine_model=model,
        organisation=org,
        installed_on=dt.date(2025, 1, 10),
    )
    assert unit.serial_number == "RC3000-2025-0001"
    assert unit.warranty_ends_on == dt.date(2027, 1, 10)
    assert AuditEvent.objects.filter(action="unit.created", target_id=str(unit.pk)).exists()


def test_duplicate_serial_and_bad_dates_are_refused(model, make_org):
    org = make_org()
    services.unit_create(
        actor=None,
        serial_number="RC3000-0001",
        machine_model=model,
        organisation=org,
        installed_on=dt.date(2025, 1, 10),
    )
    with pytest.raises(ApplicationError) as exc:
        services.unit_create(
            actor=None,
            serial_number="rc3000-0001",
            machine_model=model,
            organisation=org,
            installed_on=dt.date(2025, 1, 10),
        )
    assert "already exists" in exc.value.fields["serial_number"][0]
    with pytest.raises(ApplicationError) as exc:
        services.unit_create(
            actor=None,
            serial_number="RC3000-0002",
            machine_model=model,
            organisation=org,
            installed_on=dt.date(2025, 1, 10),
            warranty_ends_on=dt.date(2024, 1, 1),
        )
    assert "warranty_ends_on" in exc.value.fields


def test_warranty_status_is_derived_in_python_and_sql(model, make_org):
    org = make_org()
    today = dt.date(2026, 11, 25)
    ends = {
        "a": today - dt.timedelta(days=1),
        "b": today + dt.timedelta(days=10),
        "c": today + dt.timedelta(days=400),
    }
    for suffix, end in ends.items():
        services.unit_create(
            actor=None,
            serial_number=f"RC3000-{suffix}X",
            machine_model=model,
            organisation=org,
            installed_on=dt.date(2024, 1, 1),
            warranty_ends_on=end,
        )
    annotated = {
        u.serial_number: u.warranty
        for u in selectors.with_warranty_status(Unit.objects.all(), today=today)
    }
    python = {u.serial_number: u.warranty_status(today) for u in Unit.objects.all()}
    assert (
        annotated
        == python
        == {
            "RC3000-AX": WarrantyStatus.EXPIRED,
            "RC3000-BX": WarrantyStatus.EXPIRING,
            "RC3000-CX": WarrantyStatus.ACTIVE,
        }
    )


def test_extension_moves_the_end_and_is_audited(model, make_org):
    unit = services.unit_create(
        actor=None,
        serial_number="RC3000-0009",
        machine_model=model,
        organisation=make_org(),
        installed_on=dt.date(2025, 1, 1),
        warranty_ends_on=dt.date(2026, 1, 1),
    )
    services.unit_extend_warranty(unit=unit, days=30, actor=None, reason="SEV1 outage")
    unit.refresh_from_db()
    assert unit.warranty_ends_on == dt.date(2026, 1, 31)
    event = AuditEvent.objects.get(action="unit.warranty_extended")
    assert event.data["days"] == 30
    with pytest.raises(ApplicationError):
        services.unit_extend_warranty(unit=unit, days=0, actor=None, reason="x")


def test_units_are_scoped_to_the_customer(model, make_org, make_customer):
    mine, theirs = make_org(), make_org()
    customer = make_customer(mine)
    own = services.unit_create(
        actor=None,
        serial_number="RC3000-M1",
        machine_model=model,
        organisation=mine,
        installed_on=dt.date(2025, 1, 1),
    )
    foreign = services.unit_create(
        actor=None,
        serial_number="RC3000-T1",
        machine_model=model,
        organisation=theirs,
        installed_on=dt.date(2025, 1, 1),
    )
    assert list(selectors.unit_list(user=customer)) == [own]
    with pytest.raises(Http404):
        selectors.unit_get(user=customer, pk=foreign.pk)
    assert AuditEvent.objects.filter(action="access.denied", target_id=str(foreign.pk)).exists()
