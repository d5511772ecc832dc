"""Equipment registry: units, derived warranty status, warranty extension, scoping."""

from __future__ import annotations

import datetime as dt

import pytest
from django.http import Http404

from audit.models import AuditEvent
from core.errors import ApplicationError
from equipment import selectors, services
from equipment.models import MachineModel, ProductLine, Unit, WarrantyExtension, WarrantyStatus


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


def _units(model, org, prefix: str, ends: list[dt.date]) -> list[Unit]:
    return [
        services.unit_create(
            actor=None,
            serial_number=f"{prefix}-{n:04d}",
            machine_model=model,
            organisation=org,
            installed_on=dt.date(2025, 1, 1),
            warranty_ends_on=end,
        )
        for n, end in enumerate(ends)
    ]


def _effects(units: list[Unit]) -> list[tuple]:
    """What extending these units left: the end, the history rows, the audit events' content."""
    found = []
    for unit in units:
        unit.refresh_from_db()
        history = [
            (e.days, e.ends_before, e.ends_after, e.reason_en, e.reason_zh, e.source)
            for e in unit.extensions.order_by("pk")
        ]
        events = [
            (e.action, e.actor_ref, e.outcome, e.changed_fields, e.data)
            for e in AuditEvent.objects.filter(
                target_type="equipment.unit", target_id=str(unit.pk), action__startswith="unit.w"
            ).order_by("seq")
        ]
        found.append((unit.warranty_ends_on, history, events))
    return found


def test_the_batch_extends_exactly_as_one_unit_at_a_time(model, make_org, make_staff):
    """The batch service is the one home of the warranty rule: for the same moves it leaves
    the same ends, history rows and audit events as the single service, unit by unit,
    including a source applied twice (once only) and a unit moved by two sources."""
    actor = make_staff(roles=("supervisor",))
    org = make_org()
    ends = [dt.date(2026, 1, 1), dt.date(2027, 2, 28), dt.date(2028, 12, 31)]
    one, many = _units(model, org, "ONE", ends), _units(model, org, "MANY", ends)
    plan = [(0, 30, "grant:1"), (1, 7, "grant:2"), (2, 1, ""), (1, 7, "grant:2"), (1, 3, "x:9")]
    for n, days, source in plan:
        services.unit_extend_warranty(
            unit=one[n],
            days=days,
            actor=actor,
            reason=" SEV1 outage ",
            reason_zh="中断",
            source=source,
        )
    moves = [
        services.WarrantyMove(
            unit_id=many[n].pk, days=days, reason=" SEV1 outage ", reason_zh="中断", source=source
        )
        for n, days, source in plan
    ]
    out = services.units_extend_warranty_many(moves=moves, actor=actor)
    assert _effects(many) == _effects(one)
    assert out[1] == out[3]  # the same source answers with its first row
    assert [e.days for e in out] == [30, 7, 1, 7, 3]
    assert many[1].warranty_ends_on == dt.date(2027, 3, 10)
    # Applied again: nothing moves.
    again = services.units_extend_warranty_many(moves=[moves[0]], actor=actor)
    assert again == [out[0]]
    assert _effects(many) == _effects(one)


def test_the_batch_costs_the_same_statements_for_1_and_50_units(model, make_org):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    org = make_org()
    units = _units(model, org, "Q", [dt.date(2026, 1, 1)] * 51)
    costs = []
    for batch in (units[:1], units[1:]):
        moves = [
            services.WarrantyMove(unit_id=u.pk, days=5, reason="Outage", source=f"s:{u.pk}")
            for u in batch
        ]
        with CaptureQueriesContext(connection) as queries:
            services.units_extend_warranty_many(moves=moves, actor=None)
        costs.append(len(queries))
    assert costs[0] == costs[1]
    assert WarrantyExtension.objects.filter(unit__in=units).count() == 51
