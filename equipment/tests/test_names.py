"""Machine models and sites have Chinese names, read in the reader's language (issue 20, 7)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from audit.models import AuditEvent
from core.errors import ApplicationError
from equipment import selectors, services
from equipment.models import MachineModel, ProductLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(db):
    return MachineModel.objects.create(
        code="hw-1500",
        name="HW-1500 handheld welder 1.5 kW",
        name_zh="HW-1500 手持式激光焊接机 1.5 kW",
        product_line=ProductLine.HANDHELD,
        wavelength_nm=1080,
        max_power_w=1500,
    )


@pytest.fixture
def unit(model, make_org):
    return services.unit_create(
        actor=None,
        serial_number="HW1500-2026-0001",
        machine_model=model,
        organisation=make_org(),
        site="Plant 1, line A",
        site_zh="一厂 A 线",
        installed_on=dt.date(2026, 1, 5),
    )


def test_the_model_name_and_site_follow_the_readers_language(unit):
    with translation.override("zh-hans"):
        assert unit.machine_model.name_localized == "HW-1500 手持式激光焊接机 1.5 kW"
        assert str(unit.machine_model) == "HW-1500 手持式激光焊接机 1.5 kW"
        assert unit.site_localized == "一厂 A 线"
    with translation.override("en"):
        assert unit.machine_model.name_localized == "HW-1500 handheld welder 1.5 kW"
        assert str(unit.machine_model) == "HW-1500 handheld welder 1.5 kW"
        assert unit.site_localized == "Plant 1, line A"


def test_a_blank_chinese_name_falls_back_to_the_english_one(unit):
    MachineModel.objects.filter(pk=unit.machine_model_id).update(name_zh="")
    services.unit_update(unit=unit, actor=None, site_zh="")
    unit.refresh_from_db()
    unit.machine_model.refresh_from_db()
    with translation.override("zh-hans"):
        assert unit.machine_model.name_localized == "HW-1500 handheld welder 1.5 kW"
        assert unit.site_localized == "Plant 1, line A"


def test_the_chinese_site_is_saved_and_audited_like_the_site(unit):
    services.unit_update(unit=unit, actor=None, site_zh="二厂 3 号工作站")
    unit.refresh_from_db()
    assert unit.site_zh == "二厂 3 号工作站"
    change = AuditEvent.objects.filter(action="unit.changed", target_id=str(unit.pk)).get()
    assert change.changed_fields == ["site_zh"]


@pytest.mark.parametrize("value", ["厂" * 201, 42])
def test_a_chinese_site_too_long_or_not_text_is_refused(unit, value):
    with pytest.raises(ApplicationError) as refused:
        services.unit_update(unit=unit, actor=None, site_zh=value)
    assert "site_zh" in refused.value.fields


def test_customers_find_a_machine_by_its_chinese_model_name_or_site(unit, make_customer):
    customer = make_customer(unit.organisation)
    assert list(selectors.unit_list(user=customer, search="手持式")) == [unit]
    assert list(selectors.unit_list(user=customer, search="一厂")) == [unit]
    assert list(selectors.unit_list(user=customer, search="机器人")) == []


def test_the_demo_seed_gives_models_and_sites_chinese_names(make_org):
    from equipment import demo
    from equipment.models import Unit

    make_org("苏州恒锐焊接", name_en="Suzhou Hengrui Welding")
    demo.seed()
    assert not MachineModel.objects.filter(name_zh="").exists()
    assert Unit.objects.exists() and not Unit.objects.filter(site_zh="").exists()


def test_the_admin_edits_both_names_and_lists_the_site_in_the_agents_language(
    client, unit, make_staff
):
    from django.urls import reverse

    from testsupport import sign_in

    admin_user = make_staff(roles=(), language="zh-hans", is_superuser=True)
    sign_in(client, admin_user)
    form = client.get(reverse("admin:equipment_unit_change", args=[unit.pk])).content.decode()
    assert 'name="site"' in form and 'name="site_zh"' in form
    model_form = client.get(reverse("admin:equipment_machinemodel_add")).content.decode()
    assert 'name="name"' in model_form and 'name="name_zh"' in model_form
    listing = client.get(reverse("admin:equipment_unit_changelist")).content.decode()
    assert "一厂 A 线" in listing and "HW-1500 手持式激光焊接机 1.5 kW" in listing
