"""Tenancy of lists, writes, response fields and Idempotency-Keys (checklist 13, 14, 17).

Objects by id across organisations are walked over every URL pattern in test_url_walk.py.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from testsupport import sign_in
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

JSON = "application/json"


def key(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Api-Key {token}")


def markers(tenant) -> dict[str, str]:
    """Strings that name a tenant's rows; none of B's may appear in A's answers."""
    return {
        "ticket reference": tenant.ticket.reference,
        "ticket subject": tenant.ticket.subject,
        "unit serial": tenant.unit.serial_number,
        "organisation name": tenant.org.name,
        "shipment number": tenant.shipment.tracking_number,
        "customer email": tenant.customer.email,
    }


@pytest.fixture
def distinct_tenants(tenants):
    """Make the two tenants' ticket subjects unique, so a leak of B's would show."""
    a, b = tenants
    for tenant, subject in ((a, "Porosity on line A-7"), (b, "Spatter on line B-3")):
        Ticket.objects.filter(pk=tenant.ticket.pk).update(subject=subject)
        tenant.ticket.refresh_from_db()
    return a, b


# ----------------------------------------------------------------- 13: lists


def _lists(a, b) -> dict[str, list[str]]:
    """Every list, search and filter a customer reaches, asked about B in every way."""
    foreign = {
        "organisation": b.org.pk,
        "organization": b.org.pk,
        "organisation_id": b.org.pk,
        "org": b.org.pk,
    }
    asks = [
        {},
        foreign,
        {"q": b.ticket.reference},
        {"q": b.ticket.subject},
        {"q": b.unit.serial_number},
        {"q": b.org.name},
        {"q": b.customer.email},
        {"unit": b.unit.serial_number},
        {"status": "active", **foreign},
    ]
    api = ["/api/v1/tickets/", "/api/v1/units/", "/api/v1/organisations/"]
    portal = [
        "/portal/",
        "/portal/tickets/",
        "/portal/machines/",
        "/portal/shipments/",
        "/portal/compensation/",
        "/portal/chat/",
    ]
    return {"api": api, "portal": portal, "asks": asks}


def test_lists_searches_and_filters_of_a_hold_no_row_of_b_even_when_asked_for_b(
    distinct_tenants,
):
    a, b = distinct_tenants
    lists = _lists(a, b)
    theirs = markers(b)
    session = sign_in(Client(), a.customer)
    seen_own = set()
    for who, client, paths in (
        ("key", key(a.key), lists["api"]),
        ("session", session, lists["api"] + lists["portal"]),
    ):
        for path in paths:
            for ask in lists["asks"]:
                params = dict(ask)
                if path == "/api/v1/tickets/" and ask is lists["asks"][-1]:
                    params["cursor"] = ""
                if path == "/api/v1/units/" and "status" in params:
                    params["status"] = "stopped"  # a unit's states are the machine's
                response = client.get(path, params)
                assert response.status_code == 200, (who, path, params)
                text = response.content.decode()
                asked = {str(value) for value in params.values()}
                leaked = [
                    name  # B's own words echoed back (a search box) are not a leak of B's rows
                    for name, value in theirs.items()
                    if value in text and value not in asked
                ]
                assert leaked == [], (who, path, params, leaked)
                seen_own |= {name for name, value in markers(a).items() if value in text}
        # The lists do show A's own rows: the check above looks at real pages.
    assert {"ticket reference", "unit serial", "organisation name"} <= seen_own
    # The portal's article suggestions take a unit id: B's is ignored, not used.
    response = session.get("/portal/help/suggest/", {"q": "porosity", "unit": b.unit.pk})
    assert response.status_code == 200 and b.unit.serial_number not in response.content.decode()


# ------------------------------------------------------- 13: mass assignment


def test_mass_assignment_on_create_is_ignored_or_refused(distinct_tenants, make_staff):
    a, b = distinct_tenants
    outsider = make_staff(email="outsider@welddesk.example")
    forged = {
        "organisation": b.org.pk,
        "organization": b.org.pk,
        "assignee": outsider.pk,
        "assignee_id": outsider.pk,
        "internal": True,
        "status": "resolved",
        "channel": "agent",
        "queue": 1,
        "reference": "WD-1999-000001",
        "version": 99,
        "requester": b.customer.pk,
    }
    body = {"subject": "Chiller alarm E21", "body": "The chiller stops.", **forged}
    created = []
    for client, channel in (
        (key(a.key), "api"),
        (sign_in(Client(), a.customer), "portal"),
    ):
        response = client.post("/api/v1/tickets/", json.dumps(body), content_type=JSON)
        assert response.status_code == 201, response.content
        ticket = Ticket.objects.get(reference=response.json()["reference"])
        created.append(ticket)
        assert ticket.organisation_id == a.org.pk
        assert ticket.channel == channel and ticket.status == "new" and ticket.version == 1
        assert ticket.assignee_id != outsider.pk
        assert ticket.reference != "WD-1999-000001"
        assert ticket.requester_id in (None, a.customer.pk)
        assert not Message.objects.filter(ticket=ticket, internal=True).exists()
    # Naming B's person as the requester, or B's unit, is refused outright.
    for extra in ({"requester_email": b.customer.email}, {"unit": b.unit.serial_number}):
        response = key(a.key).post(
            "/api/v1/tickets/", json.dumps({**body, **extra}), content_type=JSON
        )
        assert response.status_code == 400
        assert set(extra) <= set(response.json()["error"]["fields"])
    # The portal's form takes only A's machines.
    page = sign_in(Client(), a.customer).post(
        "/portal/tickets/new/",
        {"unit": b.unit.pk, "subject": "x", "body": "y", "organisation": b.org.pk},
    )
    assert page.status_code == 400
    assert not Ticket.objects.filter(organisation=b.org).exclude(pk=b.ticket.pk).exists()
    # A customer's reply cannot make itself an internal note.
    reply = sign_in(Client(), a.customer).post(
        f"/api/v1/tickets/{created[0].reference}/reply/",
        json.dumps({"body": "psst", "internal": True}),
        content_type=JSON,
    )
    assert reply.status_code == 403
    assert not Message.objects.filter(ticket=created[0], internal=True).exists()


# ------------------------------------------------- 14: fields per role


# What a customer (portal session) and a partner key receive, field by field. A new field in
# a customer's answer must be added here on purpose.
CUSTOMER_FIELDS = {
    "ticket": {
        "reference",
        "url",
        "subject",
        "status",
        "priority",
        "kind",
        "channel",
        "organisation",
        "unit",
        "queue",
        "tags",
        "version",
        "created_at",
        "updated_at",
        "resolved_at",
        "closed_at",
        "sla",
    },
    "ticket detail": {"fault_report", "messages", "earlier_messages"},  # and the ticket's
    "sla": {
        "policy",
        "first_response_due",
        "next_reply_due",
        "resolution_due",
        "paused",
        "warning",
        "breached",
        "first_response_met",
        "resolution_met",
    },
    "message": {
        "id",
        "from_customer",
        "internal",
        "author",
        "body",
        "channel",
        "created_at",
        "attachments",
    },
    "attachment": {"id", "name", "content_type", "size", "sha256", "scan_status", "url"},
    "unit": {
        "serial_number",
        "model",
        "model_zh",
        "model_code",
        "product_line",
        "organisation",
        "site",
        "site_zh",
        "installed_on",
        "firmware",
        "warranty_ends_on",
        "warranty",
        "contract_tier",
        "status",
    },
    "unit detail": {"open_tickets", "last_alarms"},
    "organisation": {"id", "name", "name_en", "tier", "region", "is_active"},
}
# Never in a customer's answer, under any name.
AGENT_ONLY = {
    "assignee",
    "assignee_id",
    "requester",
    "requester_id",
    "escalation_level",
    "sla_remaining",
    "first_response_fired",
    "next_reply_fired",
    "resolution_fired",
    "internal_notes",
    "merged_into",
    "notes",
    "regions",
    "email_bidx",
    "phone_bidx",
}


def _keys(value) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found |= set(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_customer_answers_carry_exactly_the_customer_fields_and_no_internal_note(
    distinct_tenants, queue_setup
):
    from tickets.services.tickets import ticket_reply

    a, _b = distinct_tenants
    agent = queue_setup[2][0]
    ticket_reply(ticket=a.ticket, author=agent, body="Customer sounds angry", internal=True)
    ticket_reply(ticket=a.ticket, author=agent, body="Please send a photo.")
    fields = CUSTOMER_FIELDS
    for client in (key(a.key), sign_in(Client(), a.customer)):
        row = client.get("/api/v1/tickets/").json()["results"][0]
        assert set(row) == fields["ticket"] and set(row["sla"]) == fields["sla"]
        detail = client.get(f"/api/v1/tickets/{a.ticket.reference}/").json()
        assert set(detail) == fields["ticket"] | fields["ticket detail"]
        assert all(set(m) == fields["message"] for m in detail["messages"])
        assert {frozenset(f) for m in detail["messages"] for f in m["attachments"]} == {
            frozenset(fields["attachment"])
        }
        bodies = [m["body"] for m in detail["messages"]]
        assert "Customer sounds angry" not in bodies and "Please send a photo." in bodies
        assert not any(m["internal"] for m in detail["messages"])
        unit = client.get("/api/v1/units/").json()["results"][0]
        assert set(unit) == fields["unit"]
        unit_detail = client.get(f"/api/v1/units/{a.unit.serial_number}/").json()
        assert set(unit_detail) == fields["unit"] | fields["unit detail"]
        organisation = client.get(f"/api/v1/organisations/{a.org.pk}/").json()
        assert set(organisation) == fields["organisation"]
        for answer in (row, detail, unit_detail, organisation):
            assert not _keys(answer) & AGENT_ONLY
    page = sign_in(Client(), a.customer).get(f"/portal/tickets/{a.ticket.reference}/")
    assert "Customer sounds angry" not in page.content.decode()
    assert "Please send a photo." in page.content.decode()


def test_staff_do_see_internal_notes_so_the_customer_check_can_fail(
    distinct_tenants, queue_setup, make_staff
):
    from tickets.services.tickets import ticket_reply

    a, _b = distinct_tenants
    agent = queue_setup[2][0]
    ticket_reply(ticket=a.ticket, author=agent, body="Customer sounds angry", internal=True)
    supervisor = sign_in(Client(), make_staff(roles=("supervisor",)))
    detail = supervisor.get(f"/api/v1/tickets/{a.ticket.reference}/").json()
    assert "Customer sounds angry" in [m["body"] for m in detail["messages"]]


# ------------------------------------------------- 17: Idempotency-Keys


def test_another_tenants_idempotency_key_never_returns_their_stored_response(distinct_tenants):
    a, b = distinct_tenants
    body = json.dumps({"subject": "Chiller alarm E21", "body": "The chiller stops."})

    def post(client, idempotency_key, data=body):
        return client.post(
            "/api/v1/tickets/", data, content_type=JSON, HTTP_IDEMPOTENCY_KEY=idempotency_key
        )

    theirs = post(key(a.key), "order-4711")
    assert theirs.status_code == 201
    # B sends the very same request with the same key (by API key, or signed in): a ticket
    # of B's own, not A's replay.
    post(key(a.key), "order-4712")
    for client, idempotency_key in (
        (key(b.key), "order-4711"),
        (sign_in(Client(), b.customer), "order-4712"),
    ):
        mine = post(client, idempotency_key)
        assert mine.status_code == 201, mine.content
        assert not mine.has_header("Idempotent-Replayed")
        assert mine.json()["reference"] != theirs.json()["reference"]
        assert mine.json()["organisation"] == b.org.pk
    # Nor does another body tell B that A used a key (no 422, no 409).
    post(key(a.key), "order-4713")
    other = post(key(b.key), "order-4713", json.dumps({"subject": "Spatter", "body": "Again."}))
    assert other.status_code == 201 and other.json()["organisation"] == b.org.pk
    # A still gets its own answer back.
    again = post(key(a.key), "order-4711")
    assert again.json() == theirs.json() and again["Idempotent-Replayed"] == "true"
    assert Ticket.objects.filter(organisation=b.org).count() == 1 + 3
