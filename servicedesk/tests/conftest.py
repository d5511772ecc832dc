"""Fixtures of the project-wide tests: two customer organisations, each with its objects; the
fault drills' desk of real processes (servicedesk/tests/drills.py) and its API partner."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from servicedesk.tests.drills import (
    ApiLoad,
    Desk,
    PrivateRedis,
    prepare_schedules,
    redis_server_binary,
)
from tickets.tests import conftest as ticket_fixtures

log = logging.getLogger("welddesk.drills")

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
    identity: Any  # the customer's WeChat, linked to their account
    key: str  # a read-write API key of the organisation
    read_key: str  # a read-only one


@pytest.fixture
def make_tenant(settings, tmp_path, make_org, make_customer, make_unit, open_ticket, queue_setup):
    """Build an organisation with a ticket (and its attachment), a unit, a shipment, a chat
    with a file and two API keys, all through the services."""
    from django.utils import timezone

    from accounts.models import ApiScope
    from accounts.services import platforms
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
        identity = platforms.platform_identity_seen(
            platform="wechat", app_id="wx-tenants", external_id=f"o-{email}", now=timezone.now()
        )
        platforms.platform_identity_bind(identity=identity, user=customer, actor=customer)
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
            identity=identity,
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


@pytest.fixture
def partner(sla_setup, queue_setup, make_customer, make_unit):
    """A customer organisation with a unit and a read-write API key; a queue with agents, so
    every new ticket is assigned and its agent told by e-mail (an outbox row)."""
    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create

    customer = make_customer()
    unit = make_unit(customer.organisation)
    _key, token = api_key_create(
        actor=queue_setup[1],
        organisation=customer.organisation,
        name="ERP",
        scope=ApiScope.READ_WRITE,
    )
    return token, unit.serial_number


@pytest.fixture
def drill(tmp_path, partner):
    """Start a private Redis and the desk's processes; stop all of them afterwards."""
    from django.conf import settings

    from core.startup import verify_encryption_keys

    if redis_server_binary() is None:
        if settings.REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but redis-server is not installed")
        pytest.skip("needs redis-server (apt-get install redis-server)")
    verify_encryption_keys()
    prepare_schedules()
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    desks: list[Desk] = []

    def make_desk(*, webs: int = 1, **options) -> tuple[Desk, ApiLoad]:
        desk = Desk(tmp_path, redis, **options)
        desks.append(desk)
        port = desk.start_all(webs=webs)
        token, unit = partner
        return desk, ApiLoad(base_url=f"http://127.0.0.1:{port}", token=token, unit=unit)

    try:
        yield redis, make_desk
    finally:
        for desk in desks:
            desk.stop()
            for name in ("web", "web2", "worker", "worker2", "beat"):
                tail = desk.log(name)[-3000:]
                if tail:
                    log.warning("----- %s log (tail)\n%s", name, tail)  # shown when a drill fails
        redis.stop()
