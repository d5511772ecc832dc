"""Shipments: validation, the sandbox timeline, holds that pause the SLA, warnings, backoff."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import ApplicationError
from logistics import services
from logistics.models import Shipment, TrackingEvent, TrackingStatus
from notifications.models import Outbox
from tickets.models import Status

pytestmark = pytest.mark.django_db


def test_bad_input_is_refused_with_field_errors_and_nothing_is_written(
    open_ticket, make_customer, agent
):
    ticket = open_ticket()
    stranger = make_customer()
    base = {
        "actor": agent,
        "organisation": ticket.organisation,
        "kind": "spare_part",
        "carrier": "sandbox",
        "tracking_number": "SBX-000001",
        "delivery_address": "苏州",
        "items": [{"description": "Nozzle", "quantity": 1}],
    }
    cases = [
        ({"tracking_number": "a b"}, "tracking_number"),
        ({"carrier": "kuaidi100"}, "carrier"),  # not configured here
        ({"kind": "boat"}, "kind"),
        ({"delivery_address": "  "}, "delivery_address"),
        ({"tickets": [open_ticket(stranger)]}, "tickets"),
        ({"items": []}, "items"),
        ({"items": [{"description": "Nozzle", "quantity": 0}]}, "items"),
    ]
    for change, field in cases:
        with pytest.raises(ApplicationError) as caught:
            services.shipment_create(**{**base, **change})
        assert field in caught.value.fields, (change, caught.value.fields)
    assert not Shipment.objects.exists()
    services.shipment_create(**base)
    with pytest.raises(ApplicationError) as caught:
        services.shipment_create(**{**base, "tracking_number": "sbx-000001"})
    assert "tracking_number" in caught.value.fields  # the same number, any case


def test_the_sandbox_timeline_is_tracked_once_and_ends_delivered(open_ticket, make_shipment):
    ticket = open_ticket()
    shipment = make_shipment(ticket.organisation, hours_ago=20)
    assert services.track_one(shipment=shipment)
    shipment.refresh_from_db()
    assert shipment.status == TrackingStatus.IN_TRANSIT
    assert shipment.place == "Suzhou hub"
    assert shipment.events.count() == 3  # created, picked up, departed
    assert services.track_one(shipment=shipment)
    assert shipment.events.count() == 3  # told twice, kept once
    Shipment.objects.filter(pk=shipment.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=50)
    )
    shipment.refresh_from_db()
    services.track_one(shipment=shipment)
    shipment.refresh_from_db()
    assert shipment.status == TrackingStatus.DELIVERED
    assert shipment.delivered_at is not None and shipment.next_check_at is None
    assert list(
        AuditEvent.objects.filter(action="shipment.status_changed")
        .order_by("seq")
        .values_list("data__to", flat=True)
    ) == ["in_transit", "delivered"]


def test_a_waiting_ticket_pauses_its_sla_until_every_awaited_part_is_delivered(
    open_ticket, make_shipment
):
    ticket = open_ticket()
    first = make_shipment(ticket.organisation, tickets=[ticket], tickets_wait=True)
    second = make_shipment(ticket.organisation, tickets=[ticket], tickets_wait=True)
    ticket.refresh_from_db()
    assert ticket.status == Status.ON_HOLD and ticket.sla_paused_at is not None
    for shipment, hours in ((first, 50), (second, 50)):
        Shipment.objects.filter(pk=shipment.pk).update(
            created_at=timezone.now() - dt.timedelta(hours=hours)
        )
    first.refresh_from_db()
    services.track_one(shipment=first)
    ticket.refresh_from_db()
    assert ticket.status == Status.ON_HOLD  # the second part is still on its way
    second.refresh_from_db()
    services.track_one(shipment=second)
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.sla_paused_at is None


def test_a_delivery_problem_warns_the_customer_and_flags_the_ticket_once(
    open_ticket, make_shipment, agent
):
    ticket = open_ticket()
    shipment = make_shipment(
        ticket.organisation, number="SBX-200001-EXC", tickets=[ticket], hours_ago=35
    )
    services.track_one(shipment=shipment)
    shipment.refresh_from_db()
    assert shipment.status == TrackingStatus.EXCEPTION
    warned = Outbox.objects.filter(key__startswith=f"shipment-exception:{shipment.pk}:")
    assert warned.count() == 1
    assert "SBX-200001-EXC" in warned.get().subject
    ticket.refresh_from_db()
    assert "shipment-exception" in {t.name for t in ticket.tags.all()}
    note = ticket.messages.get(internal=True)
    assert "address not found" in note.body
    flagged = f"ticket-flagged:{ticket.pk}:shipment-exception:email"
    assert Outbox.objects.filter(key=flagged).exists()
    services.track_one(shipment=shipment)
    services.tracking_apply(shipment=shipment, events=[], source="poll", now=timezone.now())
    assert warned.count() == 1 and ticket.messages.filter(internal=True).count() == 1


def test_a_late_shipment_is_warned_about_once(open_ticket, make_shipment):
    ticket = open_ticket()
    late = make_shipment(
        ticket.organisation,
        tickets=[ticket],
        expected_on=timezone.localdate() - dt.timedelta(days=1),
    )
    on_time = make_shipment(
        ticket.organisation, expected_on=timezone.localdate() + dt.timedelta(days=1)
    )
    assert services.late_warn() == 1
    assert services.late_warn() == 0
    assert Outbox.objects.filter(key__startswith=f"shipment-late:{late.pk}:").count() == 1
    assert not Outbox.objects.filter(key__startswith=f"shipment-late:{on_time.pk}:").exists()
    ticket.refresh_from_db()
    assert "shipment-late" in {t.name for t in ticket.tags.all()}


def test_a_carrier_outage_keeps_the_last_status_and_backs_off(open_ticket, make_shipment, settings):
    settings.TRACKING_BACKOFF_MAX_MINUTES = 30
    ticket = open_ticket()
    shipment = make_shipment(ticket.organisation, number="SBX-300001", hours_ago=20)
    services.track_one(shipment=shipment)
    Shipment.objects.filter(pk=shipment.pk).update(tracking_number="SBX-300001-DOWN")
    shipment.refresh_from_db()
    now = timezone.now()
    waits = []
    for _attempt in range(4):
        assert services.track_one(shipment=shipment, now=now) is False
        shipment.refresh_from_db()
        waits.append((shipment.next_check_at - now).total_seconds() / 60)
    assert waits == [5, 10, 20, 30]  # doubling, capped
    assert shipment.status == TrackingStatus.IN_TRANSIT  # the last known status stays
    assert shipment.check_failures == 4 and "down" in shipment.last_error
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 3


def test_the_poll_asks_only_about_shipments_that_are_due(open_ticket, make_shipment):
    ticket = open_ticket()
    due = make_shipment(ticket.organisation, hours_ago=5)
    later = make_shipment(ticket.organisation, hours_ago=5)
    Shipment.objects.filter(pk=later.pk).update(
        next_check_at=timezone.now() + dt.timedelta(minutes=20)
    )
    result = services.tracking_poll()
    assert result == {"checked": 1, "failed": 0, "late": 0}
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.checked_at is not None and later.checked_at is None
