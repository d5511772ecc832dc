"""Erasure: reviewed by a compliance officer, then nothing of the person is left anywhere,
while tickets, machine history and the audit chain stay intact."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.contrib.admin import helpers
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from audit.selectors import chain_verify
from compliance import services
from compliance.models import ErasureRequest, ErasureStatus
from compliance.tests.test_dsar import PNG
from core.errors import ApplicationError
from core.fields import encrypted_fields
from testsupport import sign_in

pytestmark = pytest.mark.django_db

EMAIL = "wang.jianguo@hengrui.example"
PHONE = "13800138000"
NAME = "Wang Jianguo"


@pytest.fixture
def person(make_org, make_customer, make_staff):
    """A customer who left traces in every app."""
    from chat import services as chat_services
    from equipment.models import MachineModel
    from equipment.services import unit_create
    from intake import services as intake_services
    from logistics import services as logistics_services
    from status import notify as status_notify
    from tickets.defaults import ensure_calendar, ensure_policies
    from tickets.services.tickets import ticket_open, ticket_reply

    ensure_policies(ensure_calendar())
    org = make_org("Hengrui", contact_email=EMAIL, contact_name=NAME, contact_phone=PHONE)
    customer = make_customer(org, email=EMAIL, full_name=NAME, phone=PHONE)
    agent = make_staff(full_name="Agent Zhou")
    model = MachineModel.objects.create(
        code="hw", name="HW", product_line="handheld", wavelength_nm=1080, max_power_w=2000
    )
    unit = unit_create(
        actor=None,
        serial_number="HW-0001",
        machine_model=model,
        organisation=org,
        installed_on=dt.date(2025, 1, 1),
        warranty_ends_on=dt.date(2027, 1, 1),
    )
    ticket = ticket_open(
        actor=customer,
        organisation=org,
        requester=customer,
        unit=unit,
        subject=f"Pores again - {NAME} calling",
        body=f"This is {NAME}, call me on {PHONE} or write to {EMAIL}.",
        attachments=[SimpleUploadedFile("seam.png", PNG, content_type="image/png")],
    )
    ticket_reply(ticket=ticket, author=agent, body=f"Dear {NAME}, please check the gas.")
    conversation = chat_services.conversation_open(customer=customer)
    chat_services.message_post(
        conversation=conversation, sender=customer, body=f"{NAME} here", client_id="c1"
    )
    intake_services.call_event(
        call_id="call-1", line="east", event="started", at=ticket.created_at, caller=PHONE
    )
    status_notify.subscribe(email=EMAIL)
    logistics_services.shipment_create(
        actor=agent,
        organisation=org,
        kind="spare_part",
        carrier="sandbox",
        tracking_number="SBX-900001",
        delivery_address=f"Attn. {NAME}, Suzhou",
        recipient_phone=PHONE,
        items=[{"description": "lens", "quantity": 1}],
        tickets=[ticket],
    )
    return customer, ticket, unit


def _text_columns_containing(needle: str) -> list[str]:
    """Every column of every table, raw (what is on disk), that contains the text."""
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                name = connection.ops.quote_name(column.name)
                cursor.execute(
                    f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)} "  # noqa: S608
                    f"WHERE CAST({name} AS TEXT) LIKE %s",
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column.name}")
    return hits


def _decrypted_fields_containing(needle: str) -> list[str]:
    """Every encrypted field of every model, decrypted, that contains the text."""
    hits = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        for field in encrypted_fields(model):
            for value in model.objects.values_list(field.name, flat=True).iterator():
                if value and needle.lower() in str(value).lower():
                    hits.append(f"{model._meta.label}.{field.name}")
                    break
    return hits


def test_after_an_erasure_nothing_of_the_person_is_found_anywhere(person, make_staff, password):
    customer, ticket, unit = person
    officer = make_staff(roles=("compliance_officer",))
    # Before: the person is there, in clear where it is plain text, encrypted elsewhere.
    assert _decrypted_fields_containing(EMAIL)
    assert _text_columns_containing(NAME)  # the ticket's subject is plain text
    request = services.erasure_request(
        subject=customer, actor=customer, reason="Forget me", password=password
    )
    again = services.erasure_request(subject=customer, actor=customer, password=password)
    assert again == request  # one open request a person
    done = services.erasure_review(request=request, actor=officer, approve=True)
    assert done.status == ErasureStatus.DONE
    assert done.summary["tickets"]["messages"] == 1 and done.summary["calls"] == 1
    for needle in (EMAIL, PHONE, NAME, "Jianguo", "13800138000"):
        assert _text_columns_containing(needle) == [], needle
        assert _decrypted_fields_containing(needle) == [], needle
    # What the desk must keep is intact.
    ticket.refresh_from_db()
    assert ticket.unit_id == unit.pk and ticket.requester_id == customer.pk
    assert ticket.messages.count() == 2
    customer.refresh_from_db()
    assert not customer.is_active and not customer.has_usable_password()
    assert chain_verify().ok


def test_erasure_is_reviewed_by_a_compliance_officer(client, person, make_staff, password):
    customer, _ticket, _unit = person
    agent = make_staff()
    with pytest.raises(ApplicationError):
        services.erasure_request(subject=customer, actor=agent)
    request = services.erasure_request(subject=customer, actor=customer, password=password)
    with pytest.raises(ApplicationError):
        services.erasure_review(request=request, actor=agent, approve=True)
    officer = make_staff(roles=("compliance_officer",))
    with pytest.raises(ApplicationError):
        services.erasure_review(request=request, actor=officer, approve=False, note="")
    sign_in(client, officer)
    changelist = reverse("admin:compliance_erasurerequest_changelist")
    client.post(
        changelist,
        {"action": "reject", "note": "Open contract", helpers.ACTION_CHECKBOX_NAME: [request.pk]},
    )
    request.refresh_from_db()
    assert request.status == ErasureStatus.REJECTED and request.review_note == "Open contract"
    customer.refresh_from_db()
    assert customer.email == EMAIL and customer.is_active  # nothing erased
    assert ErasureRequest.objects.count() == 1


def test_a_customer_asks_for_erasure_from_the_portal(client, person, password):
    customer, _ticket, _unit = person
    sign_in(client, customer)
    url = reverse("portal:data_export")
    wrong = client.post(url, {"action": "erase", "password": "nope"})
    assert wrong.status_code == 400 and not ErasureRequest.objects.exists()
    done = client.post(url, {"action": "erase", "password": password, "reason": "Leaving"})
    assert done.status_code == 302
    request = ErasureRequest.objects.get()
    assert request.subject == customer and request.reason == "Leaving"
    assert request.status == ErasureStatus.REQUESTED  # nothing erased before the review
    customer.refresh_from_db()
    assert customer.email == EMAIL
