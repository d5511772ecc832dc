"""Every customer-facing event reaches every channel the customer chose, and no other.

One customer per case chooses a single channel in their profile (the other addresses are
known but not chosen: a phone number without SMS, a WeCom ID without WeCom); each event is
caused through the services, and the event's outbox rows are exactly that channel. The
channels are read by notifications (`notifications.messages`), not by the app telling.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from compensation.tests.conftest import (  # noqa: F401 (the compensation fixtures)
    components,
    make_affected,
    make_incident,
    make_ticket,
    outage_policy,
    window,
)
from compensation.tests.conftest import make_unit as make_unit  # the compensation one
from logistics.tests.conftest import agent, make_shipment  # noqa: F401
from notifications.models import Outbox, PushSubscription
from status.tests.conftest import sev  # noqa: F401

pytestmark = pytest.mark.django_db

PHONE = "+86 139 1234 5678"
CHANNELS = ("email", "sms", "wecom", "push", "webhook")


def choose(customer, channel: str):
    """Make `channel` the customer's only choice; the other addresses stay on file."""
    customer.phone = PHONE
    customer.wecom_id = "zhang.wei"
    customer.notify_email = channel == "email"
    customer.notify_sms = channel == "sms"
    customer.notify_wecom = channel == "wecom"
    customer.notify_webhook_url = (
        "https://hooks.factory.example/welddesk" if channel == "webhook" else ""
    )
    customer.save()
    if channel == "push":
        PushSubscription.objects.create(
            user=customer,
            endpoint=f"https://push.example/{customer.pk}",
            endpoint_hash=f"browser-{customer.pk}",
            p256dh="k",
            auth="a",
        )
    return customer


def rows(prefix: str) -> list[Outbox]:
    return list(Outbox.objects.filter(key__startswith=prefix))


def ticket_of(customer):
    from tickets.services.tickets import ticket_open

    return ticket_open(
        actor=customer,
        organisation=customer.organisation,
        requester=customer,
        subject="Porosity in stainless seams",
        body="Since this morning every seam shows pores.",
    )


def ticket_answer(ctx, customer):
    from tickets.services.tickets import ticket_reply

    ticket = ticket_of(customer)
    message = ticket_reply(ticket=ticket, author=ctx["agent"], body="Replace the lens.")
    return rows(f"ticket-reply:{message.pk}:")


def ticket_status(ctx, customer):
    from tickets.services.tickets import ticket_transition

    ticket = ticket_of(customer)
    ticket = ticket_transition(ticket=ticket, status="on_hold", actor=ctx["agent"])
    return rows(f"ticket-status:{ticket.pk}:{ticket.version}:")


def survey_invitation(ctx, customer):
    from tickets.services.tickets import ticket_transition

    ticket = ticket_of(customer)
    ticket = ticket_transition(ticket=ticket, status="resolved", actor=ctx["agent"])
    found = rows(f"ticket-status:{ticket.pk}:{ticket.version}:")
    for row in found:
        if row.channel == "email":
            assert "/survey/" in row.body  # the invitation's links
    return found


def incident_news(ctx, customer):
    from status import notify, services

    ticket_of(customer)  # a customer with an active ticket in the affected region
    incident = services.incident_open(
        actor="system",
        severity=ctx["sev"]["sev2"],
        title_en="Hotline East down",
        title_zh="华东热线中断",
        components={ctx["components"]["east"]: "major_outage"},
        body_en="Use the chat.",
        body_zh="请使用在线客服。",
    )
    notify.notify_tick(now=timezone.now() + dt.timedelta(seconds=61))
    return rows(f"status:{incident.pk}:")


def compensation_offer(ctx, customer):
    from compensation import services
    from compensation.models import Grant

    incident = ctx["make_incident"]()
    supervisor = ctx["supervisor"]
    services.assess_incident(incident=incident, actor=supervisor)
    services.grants_approve(grant_ids=Grant.objects.values_list("pk", flat=True), actor=supervisor)
    return [r for r in rows("compensation:") if f":{customer.pk}:" in r.key]


def shipment_problem(ctx, customer):
    from logistics import services

    shipment = ctx["make_shipment"](customer.organisation, number="SBX-200001-EXC", hours_ago=35)
    services.track_one(shipment=shipment)
    return rows(f"shipment-exception:{shipment.pk}:{customer.pk}:")


def missed_call(ctx, customer):
    from status import services

    ctx["settings"].TELEPHONY_TOKEN = "telephony-token-for-tests-0123456789"
    services.incident_open(
        actor="system",
        severity=ctx["sev"]["sev2"],
        title_en="Hotline East down",
        title_zh="华东热线中断",
        components={ctx["components"]["east"]: "major_outage"},
        body_en="x",
        body_zh="x",
    )
    at = timezone.now() - dt.timedelta(minutes=1)
    events = [
        {"call_id": "m1", "line": "east", "event": kind, "at": at.isoformat(), "caller": PHONE}
        for kind in ("started", "abandoned")
    ]
    response = ctx["client"].post(
        reverse("telephony-events"),
        json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer telephony-token-for-tests-0123456789",
    )
    assert response.json()["sms"] == 1
    return rows("telephony:missed:")


EVENTS = {
    "ticket answer": ticket_answer,
    "ticket status change": ticket_status,
    "survey invitation": survey_invitation,
    "incident news": incident_news,
    "compensation offer": compensation_offer,
    "shipment problem": shipment_problem,
    "missed call": missed_call,
}


@pytest.fixture
def ctx(
    client,
    settings,
    sla_setup,
    queue_setup,
    components,  # noqa: F811
    sev,  # noqa: F811
    make_incident,  # noqa: F811
    make_shipment,  # noqa: F811
):
    return {
        "client": client,
        "settings": settings,
        "agent": queue_setup[2][0],
        "supervisor": queue_setup[1],
        "components": components,
        "sev": sev,
        "make_incident": make_incident,
        "make_shipment": make_shipment,
    }


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("event", EVENTS)
def test_each_event_reaches_the_channel_the_customer_chose_and_no_other(
    event,
    channel,
    ctx,
    make_affected,  # noqa: F811
    outage_policy,  # noqa: F811
):
    # Affected by the outage (a unit in warranty, a ticket during it), so compensation has
    # someone to tell; the other events need only a customer in the east region.
    customer = choose(make_affected("Jiangsu Laser Works"), channel)
    found = EVENTS[event](ctx, customer)
    expected = {channel}
    if event == "missed call":
        expected.add("sms")  # the number that called is always answered by SMS
    assert {row.channel for row in found} == expected, [row.key for row in found]
    for row in found:
        if row.channel == "push":
            assert row.recipient == str(customer.push_subscriptions.get().pk)
            payload = json.loads(row.body)
            assert payload["title"] and payload["body"] and payload["url"]
        elif row.channel == "webhook":
            assert json.loads(row.body)  # JSON for the customer's system, signed on send
        elif row.channel == "sms":
            assert row.recipient == PHONE and row.body
        elif row.channel == "wecom":
            assert row.recipient == "zhang.wei" and row.body
        else:
            assert row.recipient == customer.email and row.subject
