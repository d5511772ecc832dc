"""Customers follow their shipments on the portal and on the ticket page; agents add them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from logistics import services
from logistics.models import Shipment
from testsupport import sign_in

pytestmark = pytest.mark.django_db


def test_a_customer_sees_their_shipments_and_never_another_customers(
    client, open_ticket, make_shipment, make_customer
):
    ticket = open_ticket()
    customer = ticket.requester
    mine = make_shipment(customer.organisation, tickets=[ticket], hours_ago=20)
    services.track_one(shipment=mine)
    theirs = make_shipment(make_customer().organisation)
    sign_in(client, customer)
    listing = client.get(reverse("portal:shipments")).content.decode()
    assert mine.tracking_number in listing and theirs.tracking_number not in listing
    detail = client.get(reverse("portal:shipment", args=[mine.pk])).content.decode()
    assert "Departed the sorting centre" in detail and "Suzhou hub" in detail
    assert "Protective lens D30" in detail
    assert client.get(reverse("portal:shipment", args=[theirs.pk])).status_code == 404
    page = client.get(reverse("portal:ticket", args=[ticket.reference])).content.decode()
    assert mine.tracking_number in page


def test_an_unreachable_carrier_shows_the_last_known_status_and_its_age(
    client, open_ticket, make_shipment
):
    ticket = open_ticket()
    shipment = make_shipment(ticket.organisation, number="SBX-400001", hours_ago=20)
    services.track_one(shipment=shipment)
    Shipment.objects.filter(pk=shipment.pk).update(tracking_number="SBX-400001-DOWN")
    shipment.refresh_from_db()
    services.track_one(shipment=shipment)
    sign_in(client, ticket.requester)
    page = client.get(reverse("portal:shipment", args=[shipment.pk])).content.decode()
    assert "The carrier cannot be reached right now; this is the last known status" in page
    assert "In transit" in page


def test_an_empty_list_says_so(client, make_customer):
    sign_in(client, make_customer())
    page = client.get(reverse("portal:shipments")).content.decode()
    assert "Nothing is on its way to or from you right now." in page


def test_the_list_has_a_query_budget(client, open_ticket, make_shipment):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ticket = open_ticket()
    make_shipment(ticket.organisation)
    sign_in(client, ticket.requester)
    url = reverse("portal:shipments")
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for _ in range(5):
        make_shipment(ticket.organisation)
    with CaptureQueriesContext(connection) as six:
        page = client.get(url).content.decode()
    assert page.count('class="card shipment-') == 6
    assert len(six) == len(one)


def test_an_agent_adds_a_shipment_from_the_ticket_page(client, open_ticket, agent):
    ticket = open_ticket()
    sign_in(client, agent)
    ticket_page = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    add_url = reverse("admin:logistics_shipment_add") + f"?ticket={ticket.pk}"
    assert add_url in ticket_page.content.decode()
    form = client.get(add_url)
    assert form.status_code == 200
    assert form.context["form"].initial["tickets"] == [ticket.pk]
    data = {
        "organisation": ticket.organisation_id,
        "tickets": [ticket.pk],
        "tickets_wait": "on",
        "kind": "spare_part",
        "direction": "outbound",
        "carrier": "sandbox",
        "tracking_number": "SBX-500001",
        "delivery_address": "苏州工业园区",
        "items": "2 x protective lens D30\nnozzle 1.2 mm",
        "expected_on": "2026-12-20",
    }
    bad = client.post(add_url, {**data, "tracking_number": "no spaces allowed"})
    assert bad.status_code == 400 and not Shipment.objects.exists()
    garbage = client.post(add_url, {**data, "organisation": "abc", "expected_on": "soon"})
    assert garbage.status_code == 400 and not Shipment.objects.exists()
    done = client.post(add_url, data)
    assert done.status_code == 302
    assert done.url == reverse("admin:tickets_ticket_change", args=[ticket.pk])
    shipment = Shipment.objects.get()
    assert shipment.items == [
        {"description": "protective lens D30", "quantity": 2},
        {"description": "nozzle 1.2 mm", "quantity": 1},
    ]
    ticket.refresh_from_db()
    assert ticket.status == "on_hold"  # awaiting parts: the SLA is paused
    page = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk])).content.decode()
    assert "SBX-500001" in page
