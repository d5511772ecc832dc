"""Customers and agents read machine models and sites in their language (issue 20, point 7):
the Chinese name for a Chinese reader, the English one otherwise, and the English one when no
Chinese name was entered."""

from __future__ import annotations

import pytest
from django.urls import reverse

from equipment.models import MachineModel
from testsupport import sign_in

pytestmark = pytest.mark.django_db

MODEL_EN, MODEL_ZH = "HW-2000 handheld welder 2 kW", "HW-2000 手持式激光焊接机 2 kW"
SITE_EN, SITE_ZH = "Plant 1, line A", "一厂 A 线"


@pytest.fixture
def unit(machine, make_unit, customer):
    MachineModel.objects.filter(pk=machine.pk).update(name_zh=MODEL_ZH)
    return make_unit(customer.organisation, site=SITE_EN, site_zh=SITE_ZH)


def _pages(client, unit, ticket) -> dict[str, str]:
    urls = {
        "home": reverse("portal:home"),
        "machines": reverse("portal:machines"),
        "machine": reverse("portal:machine", args=[unit.serial_number]),
        "new ticket": reverse("portal:ticket_new"),
        "chat": reverse("portal:chat"),
        "ticket": reverse("portal:ticket", args=[ticket.reference]),
    }
    found = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        found[name] = response.content.decode()
    return found


def test_a_chinese_reader_sees_the_chinese_model_name_and_site(
    client, customer, unit, open_ticket, sla_setup
):
    ticket = open_ticket(customer, unit=unit)
    sign_in(client, customer)  # no language chosen: the browser's decides
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    pages = _pages(client, unit, ticket)
    for name, page in pages.items():
        assert MODEL_ZH in page and MODEL_EN not in page, name
    for name in ("home", "machines", "machine", "new ticket"):
        assert SITE_ZH in pages[name] and SITE_EN not in pages[name], name


def test_an_english_reader_sees_the_english_model_name_and_site(
    client, customer, unit, open_ticket, sla_setup
):
    ticket = open_ticket(customer, unit=unit)
    customer.language = "en"
    customer.save(update_fields=["language"])
    sign_in(client, customer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"  # the profile's language wins
    pages = _pages(client, unit, ticket)
    for name, page in pages.items():
        assert MODEL_EN in page and MODEL_ZH not in page, name
    for name in ("home", "machines", "machine", "new ticket"):
        assert SITE_EN in pages[name] and SITE_ZH not in pages[name], name


def test_without_chinese_names_a_chinese_reader_sees_the_english_ones(
    client, customer, machine, make_unit
):
    unit = make_unit(customer.organisation, site=SITE_EN)
    sign_in(client, customer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    page = client.get(reverse("portal:machine", args=[unit.serial_number])).content.decode()
    assert "型号" in client.get(reverse("portal:machines")).content.decode()  # a Chinese page
    assert machine.name in page and SITE_EN in page


def test_an_agent_reads_the_machine_in_their_language_on_the_ticket_page(
    client, customer, unit, open_ticket, sla_setup, make_staff
):
    ticket = open_ticket(customer, unit=unit)
    agent = make_staff(roles=("supervisor",), language="zh-hans")
    sign_in(client, agent)
    page = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk])).content.decode()
    assert MODEL_ZH in page and SITE_ZH in page
    agent.language = "en"
    agent.save(update_fields=["language"])
    page = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk])).content.decode()
    assert MODEL_EN in page and SITE_EN in page and MODEL_ZH not in page


def test_the_chat_consoles_customer_panel_names_the_machine_in_the_agents_language(
    client, customer, unit, queue_setup
):
    from chat import services as chat_services

    conversation = chat_services.conversation_open(customer=customer, unit=unit)
    agent = queue_setup[2][0]  # a member of the chat's queue
    agent.language = "zh-hans"
    agent.save(update_fields=["language"])
    sign_in(client, agent)
    url = reverse("admin:chat_conversation_change", args=[conversation.pk])
    page = client.get(url).content.decode()
    assert 'id="chat-context-units"' in page
    assert MODEL_ZH in page and MODEL_EN not in page


def test_the_api_gives_the_chinese_names_beside_the_english_ones(customer, unit, queue_setup):
    from django.test import Client

    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create

    _key, token = api_key_create(
        actor=queue_setup[1], organisation=customer.organisation, name="ERP", scope=ApiScope.READ
    )
    response = Client().get(
        f"/api/v1/units/{unit.serial_number}/", HTTP_AUTHORIZATION=f"Api-Key {token}"
    )
    body = response.json()
    assert (body["model"], body["model_zh"]) == (MODEL_EN, MODEL_ZH)
    assert (body["site"], body["site_zh"]) == (SITE_EN, SITE_ZH)
