"""Fixtures of the project-wide tests: two customer organisations, each with its objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tickets.tests import conftest as ticket_fixtures

machine = ticket_fixtures.machine
make_unit = ticket_fixtures.make_unit
sla_setup = ticket_fixtures.sla_setup
queue_setup = ticket_fixtures.queue_setup
open_ticket = ticket_fixtures.open_ticket

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def png(name: str = "seam.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


@dataclass
class Tenant:
    """One customer organisation and one of each object a customer of it may reach by id."""

    org: Any
    customer: Any
    unit: Any
    ticket: Any
    attachment: Any
    shipment: Any
    conversation: Any
    chat_attachment: Any
    key: str  # a read-write API key of the organisation
    read_key: str  # a read-only one


@pytest.fixture
def make_tenant(settings, tmp_path, make_org, make_customer, make_unit, open_ticket, queue_setup):
    """Build an organisation with a ticket (and its attachment), a unit, a shipment, a chat
    with a file and two API keys, all through the services."""
    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create
    from chat import services as chat_services
    from logistics import services as logistics_services

    settings.MEDIA_ROOT = tmp_path
    supervisor, agent = queue_setup[1], queue_setup[2][0]

    def make(name: str, *, email: str) -> Tenant:
        org = make_org(name)
        customer = make_customer(org, email=email)
        unit = make_unit(org)
        ticket = open_ticket(customer, unit=unit, attachments=[png()])
        shipment = logistics_services.shipment_create(
            actor=agent,
            organisation=org,
            tracking_number=f"SBX-{org.pk:06d}",
            kind="spare_part",
            carrier="sandbox",
            delivery_address="苏州工业园区星湖街 328 号",
            items=[{"description": "Protective lens D30", "quantity": 2}],
        )
        conversation = chat_services.conversation_open(customer=customer, unit=unit)
        chat_attachment = chat_services.attachment_upload(
            conversation=conversation, user=customer, upload=png("chat.png")
        )
        _key, token = api_key_create(
            actor=supervisor, organisation=org, name="ERP", scope=ApiScope.READ_WRITE
        )
        _read, read_token = api_key_create(
            actor=supervisor, organisation=org, name="BI", scope=ApiScope.READ
        )
        return Tenant(
            org=org,
            customer=customer,
            unit=unit,
            ticket=ticket,
            attachment=ticket.attachments.get(),
            shipment=shipment,
            conversation=conversation,
            chat_attachment=chat_attachment,
            key=token,
            read_key=read_token,
        )

    return make


@pytest.fixture
def tenants(make_tenant):
    """Two organisations, A and B, each with its own objects."""
    return (
        make_tenant("苏州恒锐精密焊接有限公司", email="alice@hengrui.example"),
        make_tenant("东莞锦川五金制品有限公司", email="bob@jinchuan.example"),
    )
