"""core.compiled.CompiledRead: the ORM's statement composed once, the ORM's objects every time.

A compiled read must give what the queryset itself gives (the row, its converted values, the
related object of `select_related`), bind each value where that value belongs, and never
compose the statement again once it has it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Organisation, Region
from core.compiled import CompiledRead
from equipment import selectors as equipment_selectors
from equipment.models import MachineModel, ProductLine, Unit

pytestmark = pytest.mark.django_db


@pytest.fixture
def units():
    model = MachineModel.objects.create(
        code="cr-1",
        name="CR-1 welding cell",
        product_line=ProductLine.HANDHELD,
        wavelength_nm=1080,
        max_power_w=1500,
    )
    east = Region.objects.get(code="east")
    first = Organisation.objects.create(name="First Co", region=east)
    second = Organisation.objects.create(name="Second Co", region=east)
    made = {}
    for organisation, serial, day in ((first, "CR1-A", 3), (second, "CR1-B", 4)):
        made[serial] = Unit.objects.create(
            serial_number=serial,
            machine_model=model,
            organisation=organisation,
            installed_on=dt.date(2025, 6, day),
            warranty_ends_on=dt.date(2027, 6, day),
            site="Hall 2",
        )
    return first, second, made


def _by_serial_and_owner() -> CompiledRead:
    return CompiledRead(
        lambda serial_number, organisation_id: Unit.objects.select_related("machine_model").filter(
            serial_number=serial_number, organisation_id=organisation_id
        )[:1],
        serial_number=str,
        organisation_id=int,
    )


def test_gives_what_the_queryset_gives_with_its_related_object_and_converted_values(units):
    first, _second, made = units
    read = _by_serial_and_owner()
    unit = read.first(serial_number="CR1-A", organisation_id=first.pk)
    expected = Unit.objects.select_related("machine_model").get(pk=made["CR1-A"].pk)
    assert unit.pk == expected.pk
    assert unit._state.db == "default" and not unit._state.adding
    # Dates come back as dates on every database (SQLite stores them as text).
    assert unit.installed_on == dt.date(2025, 6, 3)
    assert unit.warranty_ends_on == expected.warranty_ends_on
    assert {f.attname: getattr(unit, f.attname) for f in Unit._meta.concrete_fields} == {
        f.attname: getattr(expected, f.attname) for f in Unit._meta.concrete_fields
    }
    # The model came with it: reading it runs no query.
    with CaptureQueriesContext(connection) as queries:
        assert unit.machine_model.code == "cr-1"
    assert len(queries) == 0


def test_each_value_is_bound_where_it_belongs(units):
    """Serial and owner must match together: another owner's serial is not found."""
    first, second, _made = units
    read = _by_serial_and_owner()
    assert read.first(serial_number="CR1-A", organisation_id=second.pk) is None
    assert read.first(serial_number="CR1-B", organisation_id=first.pk) is None
    assert read.first(serial_number="CR1-B", organisation_id=second.pk).serial_number == "CR1-B"
    assert read.first(serial_number="nope", organisation_id=first.pk) is None


def test_two_values_of_one_type_are_not_mistaken_for_each_other(units):
    read = CompiledRead(
        lambda serial_number, site: Unit.objects.filter(serial_number=serial_number, site=site)[:1],
        serial_number=str,
        site=str,
    )
    assert read.first(serial_number="CR1-A", site="Hall 2").serial_number == "CR1-A"
    assert read.first(serial_number="Hall 2", site="CR1-A") is None


def test_the_statement_is_composed_once(units, monkeypatch):
    first, _second, _made = units
    read = _by_serial_and_owner()
    read.first(serial_number="CR1-A", organisation_id=first.pk)
    built = []
    monkeypatch.setattr(read, "_build", lambda **kw: built.append(kw))
    with CaptureQueriesContext(connection) as queries:
        assert read.first(serial_number="CR1-A", organisation_id=first.pk).serial_number == "CR1-A"
    assert built == []
    assert len(queries) == 1


def test_values_must_be_the_plain_type_declared(units):
    first, _second, _made = units
    read = _by_serial_and_owner()
    with pytest.raises(TypeError):
        read.first(serial_number="CR1-A", organisation_id=str(first.pk))
    with pytest.raises(TypeError):
        read.first(serial_number="CR1-A")
    with pytest.raises(TypeError):
        CompiledRead(lambda when: Unit.objects.filter(installed_on=when), when=dt.date)


def test_a_value_missing_from_the_statement_is_refused_when_compiled(units):
    read = CompiledRead(lambda serial_number: Unit.objects.all()[:1], serial_number=str)
    with pytest.raises(ValueError, match="not a parameter"):
        read.first(serial_number="CR1-A")


def test_the_unit_lookup_of_an_api_opening_uses_it(units):
    first, _second, made = units
    unit = equipment_selectors.unit_of_organisation(organisation=first, serial_number="CR1-A")
    assert unit == made["CR1-A"]
    other = equipment_selectors.unit_of_organisation(organisation=first, serial_number="CR1-B")
    assert other is None
    with CaptureQueriesContext(connection) as queries:
        assert unit.machine_model.product_line == ProductLine.HANDHELD
    assert len(queries) == 0
