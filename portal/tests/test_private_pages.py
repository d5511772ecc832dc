"""Pages and API answers that carry personal data are sent `Cache-Control: no-store`, and the
access log of those requests holds no personal data, query string or token."""

from __future__ import annotations

import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from testsupport import sign_in

pytestmark = pytest.mark.django_db

EMAIL = "chen.gong@hengrui-weld.example"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def world(make_customer, make_unit, open_ticket, queue_setup, settings, tmp_path):
    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create

    settings.MEDIA_ROOT = tmp_path
    customer = make_customer(email=EMAIL, full_name="陈工 Chen Gong", phone="13800138000")
    unit = make_unit(customer.organisation)
    ticket = open_ticket(customer, unit=unit, attachments=[SimpleUploadedFile("seam.png", PNG)])
    _key, token = api_key_create(
        actor=queue_setup[1],
        organisation=customer.organisation,
        name="ERP",
        scope=ApiScope.READ,
    )
    return {
        "customer": customer,
        "unit": unit,
        "ticket": ticket,
        "token": token,
        "supervisor": queue_setup[1],
    }


def customer_pages(w) -> list[str]:
    ticket, unit = w["ticket"], w["unit"]
    return [
        reverse("portal:home"),
        reverse("portal:tickets") + f"?q={EMAIL}",
        reverse("portal:ticket", args=[ticket.reference]),
        reverse("portal:machines"),
        reverse("portal:machine", args=[unit.serial_number]),
        reverse("portal:profile"),
        reverse("portal:data_export"),
        reverse("portal:shipments"),
        reverse("portal:compensation"),
        reverse("accounts:security"),
        reverse("tickets:attachment", args=[ticket.attachments.get().pk]),
        reverse("api-me"),
        reverse("api-tickets") + f"?q={EMAIL}",
    ]


def staff_pages(w) -> list[str]:
    return [
        reverse("admin:index"),
        reverse("admin:accounts_user_changelist") + f"?q={EMAIL}",
        reverse("admin:accounts_user_change", args=[w["customer"].pk]),
        reverse("admin:tickets_ticket_changelist"),
        reverse("admin:tickets_ticket_change", args=[w["ticket"].pk]),
    ]


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_every_page_with_personal_data_is_sent_no_store(world):
    customer = sign_in(Client(), world["customer"])
    for url in customer_pages(world):
        response = customer.get(url)
        assert response.status_code == 200, url
        assert _no_store(response), (url, response.get("Cache-Control"))
    staff = sign_in(Client(), world["supervisor"])
    for url in staff_pages(world):
        response = staff.get(url)
        assert response.status_code == 200, url
        assert _no_store(response), (url, response.get("Cache-Control"))
    key = Client(HTTP_AUTHORIZATION=f"Api-Key {world['token']}")
    for url in (reverse("api-tickets"), reverse("api-ticket", args=[world["ticket"].reference])):
        response = key.get(url)
        assert response.status_code == 200 and _no_store(response), url


def test_public_pages_for_anonymous_visitors_stay_cacheable(client):
    response = client.get("/status/")
    assert response.status_code == 200
    assert not _no_store(response)


def test_the_access_log_of_those_requests_holds_no_personal_data_or_token(world, caplog):
    customer = sign_in(Client(), world["customer"])
    session_id = customer.cookies[next(iter(customer.cookies))].value
    key = Client(HTTP_AUTHORIZATION=f"Api-Key {world['token']}")
    with caplog.at_level(logging.INFO):
        for url in customer_pages(world):
            customer.get(url)
        key.get(reverse("api-tickets") + f"?q={EMAIL}")
        sign_in(Client(), world["supervisor"]).get(staff_pages(world)[1])
    access = [r.getMessage() for r in caplog.records if r.name == "welddesk.access"]
    assert len(access) >= len(customer_pages(world)) + 2
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (
        EMAIL,
        "chen.gong",
        "Chen Gong",
        "13800138000",
        world["token"],
        world["token"].removeprefix("wdk_").partition("_")[2],  # the secret (may hold "_")
        session_id,
        world["ticket"].subject,
        "?q=",
    ):
        assert secret not in logged, secret
