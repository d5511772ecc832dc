"""The REST API: API keys, scopes, idempotency, throttling, scoping, errors and query budgets."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiKey, ApiScope
from audit.models import AuditEvent
from tickets.models import Message, Status, Ticket
from tickets.tests.conftest import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(sla_setup, queue_setup, make_customer, make_unit):
    """A customer organisation with a unit, a read-write key and a read-only key."""
    from accounts.services.api_keys import api_key_create

    customer = make_customer()
    org = customer.organisation
    unit = make_unit(org)
    supervisor = queue_setup[1]
    _rw, rw_token = api_key_create(
        actor=supervisor, organisation=org, name="ERP", scope=ApiScope.READ_WRITE
    )
    _ro, ro_token = api_key_create(
        actor=supervisor, organisation=org, name="BI", scope=ApiScope.READ
    )

    class Api:
        pass

    a = Api()
    a.customer, a.org, a.unit, a.rw, a.ro = customer, org, unit, rw_token, ro_token
    a.rw_key, a.ro_key = _rw, _ro
    return a


def call(method, path, token=None, body=None, **headers):
    client = Client()
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Api-Key {token}"
    if method == "get":
        return client.get(path, body or {}, **extra)
    return getattr(client, method)(
        path, json.dumps(body or {}), content_type="application/json", **extra
    )


def new_ticket(api, **overrides):
    body = {
        "subject": "Wire feed jams every few minutes",
        "body": "The wire stops and the torch spits.",
        "kind": "fault",
        "priority": 2,
        "unit": api.unit.serial_number,
        "fault_report": {"laser_power_w": 1500, "shielding_gas": "argon"},
    }
    body.update(overrides)
    return body


# ------------------------------------------------------------------- keys and scopes


def test_create_with_api_key_runs_the_whole_service(api):
    response = call("post", "/api/v1/tickets/", api.rw, new_ticket(api))
    assert response.status_code == 201, response.content
    data = response.json()
    ticket = Ticket.objects.get(reference=data["reference"])
    assert ticket.organisation == api.org and ticket.unit == api.unit
    assert ticket.channel == "api" and ticket.requester is None
    assert ticket.resolution_due is not None and ticket.sla_policy_id is not None
    assert ticket.fault_report.laser_power_w == 1500
    event = AuditEvent.objects.get(action="ticket.opened", target_id=str(ticket.pk))
    assert event.actor_ref == f"api_key:{api.rw_key.pk}"
    assert data["sla"]["resolution_due"] is not None


def test_the_token_is_stored_only_as_a_hash(api):
    key = ApiKey.objects.get(pk=api.rw_key.pk)
    secret = api.rw.split("_", 2)[2]  # the secret itself may contain "_"
    assert len(secret) >= 40 and secret not in key.secret_hash and len(key.secret_hash) == 64
    assert api.rw.startswith(f"wdk_{key.prefix}_")


@pytest.mark.parametrize(
    "token", ["wdk_nothing_here", "wdk_000000000000_wrong", "Bearer x", "wdk_", ""]
)
def test_bad_tokens_get_401_in_json(api, token):
    response = Client().get("/api/v1/tickets/", HTTP_AUTHORIZATION=f"Api-Key {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Api-Key"


def test_wrong_secret_with_a_real_prefix_is_refused(api):
    forged = "_".join(api.rw.split("_", 2)[:2]) + "_" + "A" * 43
    assert call("get", "/api/v1/tickets/", forged).status_code == 401


def test_read_only_key_may_read_but_not_write(api):
    assert call("get", "/api/v1/tickets/", api.ro).status_code == 200
    response = call("post", "/api/v1/tickets/", api.ro, new_ticket(api))
    assert response.status_code == 403
    assert "read" in response.json()["error"]["message"]
    assert not Ticket.objects.exists()


def test_revoked_key_stops_working_at_once(api, queue_setup):
    from accounts.services.api_keys import api_key_revoke

    assert call("get", "/api/v1/tickets/", api.rw).status_code == 200
    api_key_revoke(key=api.rw_key, actor=queue_setup[1])
    assert call("get", "/api/v1/tickets/", api.rw).status_code == 401
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


def test_every_use_of_a_key_is_audited(api):
    ticket = call("post", "/api/v1/tickets/", api.rw, new_ticket(api)).json()
    call("get", "/api/v1/tickets/", api.rw)
    call("get", f"/api/v1/tickets/{ticket['reference']}/", api.ro)
    call("post", "/api/v1/tickets/", api.ro, new_ticket(api))  # refused
    uses = AuditEvent.objects.filter(action="api_key.used").order_by("seq")
    rw, ro = f"api_key:{api.rw_key.pk}", f"api_key:{api.ro_key.pk}"
    assert [(u.actor_ref, u.data["method"], u.data["status"], u.outcome) for u in uses] == [
        (rw, "GET", 200, "success"),
        (ro, "GET", 200, "success"),
        (ro, "POST", 403, "denied"),
    ]
    assert all(u.target_id == u.actor_ref.split(":")[1] for u in uses)
    # The successful write is audited once, by the service, with the key as actor.
    opened = AuditEvent.objects.get(action="ticket.opened")
    assert opened.actor_ref == f"api_key:{api.rw_key.pk}"


def test_keys_of_one_organisation_see_nothing_of_another(api, make_customer, open_ticket):
    other = open_ticket(make_customer())
    response = call("get", f"/api/v1/tickets/{other.reference}/", api.rw)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    listed = call("get", "/api/v1/tickets/", api.rw).json()
    assert listed["count"] == 0
    foreign_unit = other.unit.serial_number
    assert call("get", f"/api/v1/units/{foreign_unit}/", api.rw).status_code == 404
    body = new_ticket(api, unit=foreign_unit)
    response = call("post", "/api/v1/tickets/", api.rw, body)
    assert response.status_code == 400
    assert "unit" in response.json()["error"]["fields"]
    assert AuditEvent.objects.filter(action="access.denied").count() >= 2


# ------------------------------------------------------------------- idempotency


def test_same_key_and_body_give_the_same_answer_and_one_ticket(api):
    body = new_ticket(api)
    first = call("post", "/api/v1/tickets/", api.rw, body, **{"Idempotency-Key": "order-42"})
    second = call("post", "/api/v1/tickets/", api.rw, body, **{"Idempotency-Key": "order-42"})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Ticket.objects.count() == 1


def test_key_order_in_the_json_body_does_not_matter(api):
    body = new_ticket(api)
    reordered = dict(reversed(list(body.items())))
    call("post", "/api/v1/tickets/", api.rw, body, **{"Idempotency-Key": "k1"})
    again = call("post", "/api/v1/tickets/", api.rw, reordered, **{"Idempotency-Key": "k1"})
    assert again.status_code == 201 and Ticket.objects.count() == 1


def test_same_key_with_another_body_is_422(api):
    call("post", "/api/v1/tickets/", api.rw, new_ticket(api), **{"Idempotency-Key": "k2"})
    other = call(
        "post",
        "/api/v1/tickets/",
        api.rw,
        new_ticket(api, subject="Something else entirely"),
        **{"Idempotency-Key": "k2"},
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Ticket.objects.count() == 1


def test_idempotency_keys_are_scoped_per_organisation(api, make_customer, make_unit):
    from accounts.services.api_keys import api_key_create

    other_org = make_customer().organisation
    other_unit = make_unit(other_org)
    _k, other_token = api_key_create(
        actor=None, organisation=other_org, name="ERP", scope=ApiScope.READ_WRITE
    )
    call("post", "/api/v1/tickets/", api.rw, new_ticket(api), **{"Idempotency-Key": "same"})
    theirs = new_ticket(api, unit=other_unit.serial_number)
    response = call("post", "/api/v1/tickets/", other_token, theirs, **{"Idempotency-Key": "same"})
    assert response.status_code == 201
    assert Ticket.objects.count() == 2


def test_refused_request_is_replayed_as_refused(api):
    body = new_ticket(api, unit="NO-SUCH-SERIAL")
    first = call("post", "/api/v1/tickets/", api.rw, body, **{"Idempotency-Key": "bad"})
    again = call("post", "/api/v1/tickets/", api.rw, body, **{"Idempotency-Key": "bad"})
    assert first.status_code == again.status_code == 400
    assert first.json() == again.json()


def test_invalid_idempotency_key_is_400(api):
    response = call(
        "post", "/api/v1/tickets/", api.rw, new_ticket(api), **{"Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Ticket.objects.exists()


def test_duplicate_in_flight_gets_409(api):
    """While the first request holds its claim, a duplicate is told to retry later."""
    from core.idempotency import request_fingerprint
    from core.models import IdempotencyRecord

    body = new_ticket(api)
    # Recreate the claim the first request would hold while it runs.
    raw = json.dumps(body).encode()

    class FakeRequest:
        method = "POST"
        path = "/api/v1/tickets/"

    fake = FakeRequest()
    fake.body = raw
    IdempotencyRecord.objects.create(
        scope=f"org:{api.org.pk}", key="busy", request_hash=request_fingerprint(fake)
    )
    response = call("post", "/api/v1/tickets/", api.rw, body, **{"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_flight"
    assert not Ticket.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_make_one_ticket(sla_setup, queue_setup, make_customer, make_unit):
    """Real overlap on PostgreSQL: N threads post the same key at once; one ticket results."""
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    from accounts.services.api_keys import api_key_create

    customer = make_customer()
    unit = make_unit(customer.organisation)
    _k, token = api_key_create(
        actor=None, organisation=customer.organisation, name="ERP", scope=ApiScope.READ_WRITE
    )
    body = {"subject": "Chiller alarm", "body": "E21 on the chiller.", "unit": unit.serial_number}
    barrier = threading.Barrier(6)
    statuses = []

    def post():
        from django.db import connections

        try:
            barrier.wait(timeout=10)
            r = call("post", "/api/v1/tickets/", token, body, **{"Idempotency-Key": "dup"})
            statuses.append(r.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert Ticket.objects.count() == 1
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}


# ------------------------------------------------------------------- throttling


def test_throttling_per_key_answers_429_with_retry_after(api, settings, monkeypatch):
    import time

    from django.core.cache import cache

    from accounts import api_auth

    # The window is the clock's minute: held in the middle of one, the five calls share it.
    minute = int(time.time() // 60) * 60
    monkeypatch.setattr(api_auth.time, "time", lambda: minute + 30.0)
    cache.clear()
    settings.API_KEY_RATE_PER_MINUTE = 3
    codes = [call("get", "/api/v1/fault-codes/", api.ro).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = call("get", "/api/v1/fault-codes/", api.ro)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert refused.json()["error"]["code"] == "throttled"
    # Another key has its own budget.
    assert call("get", "/api/v1/fault-codes/", api.rw).status_code == 200


# ------------------------------------------------------------------- endpoints


def test_list_filters_and_pagination(api):
    for i in range(3):
        call("post", "/api/v1/tickets/", api.rw, new_ticket(api, subject=f"Fault number {i}"))
    call(
        "post",
        "/api/v1/tickets/",
        api.rw,
        {"subject": "Where is my laser?", "body": "Tracking please.", "kind": "shipping"},
    )
    page = call("get", "/api/v1/tickets/", api.ro, {"page_size": 2}).json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    shipping = call("get", "/api/v1/tickets/", api.ro, {"kind": "shipping"}).json()
    assert [t["subject"] for t in shipping["results"]] == ["Where is my laser?"]
    by_unit = call("get", "/api/v1/tickets/", api.ro, {"unit": api.unit.serial_number}).json()
    assert by_unit["count"] == 3
    active = call("get", "/api/v1/tickets/", api.ro, {"status": "active"}).json()
    assert active["count"] == 4
    bad = call("get", "/api/v1/tickets/", api.ro, {"status": "exploded"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]
    assert call("get", "/api/v1/tickets/", api.ro, {"page": 99}).status_code == 404


def test_list_costs_a_fixed_number_of_queries(api):
    def queries(**params):
        with CaptureQueriesContext(connection) as ctx:
            response = call("get", "/api/v1/tickets/", api.ro, {"page_size": 50, **params})
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json()["results"])

    call("post", "/api/v1/tickets/", api.rw, new_ticket(api, tags=["wire", "jam"]))
    call("get", "/api/v1/tickets/", api.ro)  # the key's last_used_at is touched once a minute
    one, rows = queries()
    assert rows == 1
    one_cursor, rows = queries(cursor="")
    assert rows == 1
    for i in range(49):
        call("post", "/api/v1/tickets/", api.rw, new_ticket(api, subject=f"Jam {i}", tags=["x"]))
    # The creates can outlast the read-only key's 10 s cache entry (and its minute of
    # last_used_at): read it again first, as before the first count.
    call("get", "/api/v1/tickets/", api.ro)
    fifty, rows = queries()
    assert rows == 50
    assert fifty == one
    fifty_cursor, rows = queries(cursor="")
    assert rows == 50
    assert fifty_cursor == one_cursor


def test_list_rows_are_the_whole_ticket(api):
    """The list loads only the columns it shows, and shows each ticket as it is."""
    from tickets.api_serializers import TicketOut

    call("post", "/api/v1/tickets/", api.rw, new_ticket(api, tags=["wire", "jam"]))
    call("post", "/api/v1/tickets/", api.rw, {"subject": "Manual?", "body": "Where?"})
    listed = call("get", "/api/v1/tickets/", api.ro).json()["results"]
    assert len(listed) == 2
    for row in listed:
        ticket = Ticket.objects.get(reference=row["reference"])
        assert row == json.loads(json.dumps(TicketOut(ticket).data))


def test_the_201_body_is_the_ticket_as_read_back(api):
    """The 201 body, written by one TicketOut kept per process from the objects in hand, is
    the ticket as TicketOut writes it from a fresh read, and as the list shows it: with and
    without a unit, tags and a fault report, and twice (the kept serializer carries nothing
    from one ticket to the next)."""
    from tickets.api_serializers import TicketOut

    bodies = [
        call("post", "/api/v1/tickets/", api.rw, new_ticket(api, tags=["wire", "jam"])),
        call("post", "/api/v1/tickets/", api.rw, {"subject": "Manual?", "body": "Where?"}),
        call("post", "/api/v1/tickets/", api.rw, new_ticket(api, priority=1)),
    ]
    listed = {
        row["reference"]: row for row in call("get", "/api/v1/tickets/", api.ro).json()["results"]
    }
    for response in bodies:
        assert response.status_code == 201, response.content
        body = response.json()
        ticket = Ticket.objects.get(reference=body["reference"])
        assert body == json.loads(json.dumps(TicketOut(ticket).data))
        assert body == listed[body["reference"]]
    assert [sorted(b.json()["tags"]) for b in bodies] == [["jam", "wire"], [], []]
    assert bodies[1].json()["unit"] is None


def test_page_numbers_and_cursor_walk_the_same_list(api):
    for i in range(7):
        call("post", "/api/v1/tickets/", api.rw, new_ticket(api, subject=f"Seam {i}"))
    # Three tickets opened in the same instant: the order within it rests on the key.
    same = Ticket.objects.order_by("pk").values_list("created_at", flat=True)[2]
    Ticket.objects.filter(pk__in=Ticket.objects.order_by("pk").values("pk")[2:5]).update(
        created_at=same
    )
    newest_first = list(Ticket.objects.order_by("-created_at", "-pk").values_list("reference"))
    expected = [ref for (ref,) in newest_first]

    by_number = []
    for number in (1, 2, 3, 4):
        page = call("get", "/api/v1/tickets/", api.ro, {"page_size": 2, "page": number}).json()
        assert page["count"] == 7
        by_number += [t["reference"] for t in page["results"]]
    assert by_number == expected

    page = call("get", "/api/v1/tickets/", api.ro, {"page_size": 2, "cursor": ""}).json()
    assert "count" not in page and page["previous"] is None
    by_cursor, pages = [], []
    while True:
        by_cursor += [t["reference"] for t in page["results"]]
        pages.append(page)
        if not page["next"]:
            break
        page = Client().get(page["next"], HTTP_AUTHORIZATION=f"Api-Key {api.ro}").json()
    assert by_cursor == expected and len(pages) == 4
    back = Client().get(pages[-1]["previous"], HTTP_AUTHORIZATION=f"Api-Key {api.ro}").json()
    assert [t["reference"] for t in back["results"]] == expected[4:6]
    # Filters apply in cursor mode too; a forged cursor is a JSON 404.
    filtered = call("get", "/api/v1/tickets/", api.ro, {"cursor": "", "status": "closed"})
    assert filtered.json()["results"] == []
    forged = call("get", "/api/v1/tickets/", api.ro, {"cursor": "bz1taW51cw=="})
    assert forged.status_code == 404 and forged.json()["error"]


def test_a_search_walks_by_cursor_newest_first_from_the_index(api):
    """`?q=` in cursor mode pages by the ticket's key from the search index: every match
    once, newest first, back and forth, in the same number of statements on every page."""
    for i in range(7):
        call("post", "/api/v1/tickets/", api.rw, new_ticket(api, subject=f"Collimator {i}"))
    call("post", "/api/v1/tickets/", api.rw, new_ticket(api, subject="Chiller alarm"))
    expected = list(
        Ticket.objects.filter(subject__startswith="Collimator")
        .order_by("-pk")
        .values_list("reference", flat=True)
    )
    auth = {"HTTP_AUTHORIZATION": f"Api-Key {api.ro}"}
    call("get", "/api/v1/tickets/", api.ro)  # the key's last_used_at is touched once a minute
    with CaptureQueriesContext(connection) as first:
        page = call(
            "get", "/api/v1/tickets/", api.ro, {"q": "collimator", "page_size": 3, "cursor": ""}
        ).json()
    assert "count" not in page and page["previous"] is None
    by_cursor, pages, statements = [], [], []
    while True:
        by_cursor += [t["reference"] for t in page["results"]]
        pages.append(page)
        if not page["next"]:
            break
        with CaptureQueriesContext(connection) as each:
            page = Client().get(page["next"], **auth).json()
        statements.append(len(each.captured_queries))
    assert by_cursor == expected and len(pages) == 3
    assert set(statements) == {len(first.captured_queries)}
    keysets = [q["sql"] for q in first.captured_queries if "keyset_id" in q["sql"]]
    assert len(keysets) == 1  # the page's keys from the index, then only the page's rows
    back = Client().get(pages[-1]["previous"], **auth).json()
    assert [t["reference"] for t in back["results"]] == expected[3:6]
    assert back["next"] and back["previous"]
    # A ticket opened meanwhile does not shift the pages not yet read.
    call("post", "/api/v1/tickets/", api.rw, new_ticket(api, subject="Collimator new"))
    again = Client().get(pages[0]["next"], **auth).json()
    assert [t["reference"] for t in again["results"]] == expected[3:6]
    # A cursor whose position is not a key (from the unsearched list, or forged) is a 404.
    unsearched = call("get", "/api/v1/tickets/", api.ro, {"page_size": 2, "cursor": ""}).json()
    foreign = Client().get(unsearched["next"] + "&q=collimator", **auth)
    assert foreign.status_code == 404 and foreign.json()["error"]


def test_create_validation_errors_are_clear_json(api):
    response = call("post", "/api/v1/tickets/", api.rw, {"subject": "", "priority": 9})
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert {"subject", "body", "priority"} <= set(fields)
    response = Client().post(
        "/api/v1/tickets/",
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api.rw}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    report = new_ticket(api, fault_report={"laser_power_w": -5, "shielding_gas": "plasma"})
    response = call("post", "/api/v1/tickets/", api.rw, report)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]["fault_report"]) == {
        "laser_power_w",
        "shielding_gas",
    }
    assert not Ticket.objects.exists()


def test_requester_by_email_through_the_blind_index(api, make_customer):
    colleague = make_customer(api.org, email="Li.Wei@Factory.example")
    body = new_ticket(api, requester_email="li.wei@factory.example")
    response = call("post", "/api/v1/tickets/", api.rw, body)
    assert response.status_code == 201
    assert Ticket.objects.get().requester == colleague
    stranger = make_customer(email="someone@else.example")
    response = call(
        "post", "/api/v1/tickets/", api.rw, new_ticket(api, requester_email=stranger.email)
    )
    assert response.status_code == 400 and "requester_email" in response.json()["error"]["fields"]


def test_retrieve_reply_and_close(api):
    ref = call("post", "/api/v1/tickets/", api.rw, new_ticket(api)).json()["reference"]
    detail = call("get", f"/api/v1/tickets/{ref}/", api.ro).json()
    assert detail["fault_report"]["laser_power_w"] == 1500
    assert len(detail["messages"]) == 1 and detail["messages"][0]["from_customer"] is True
    version = detail["version"]

    reply = call("post", f"/api/v1/tickets/{ref}/reply/", api.rw, {"body": "Photo follows."})
    assert reply.status_code == 201 and reply.json()["body"] == "Photo follows."
    stale = call("post", f"/api/v1/tickets/{ref}/close/", api.rw, {"expected_version": version})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "version_conflict"
    internal = call(
        "post", f"/api/v1/tickets/{ref}/reply/", api.rw, {"body": "x", "internal": True}
    )
    assert internal.status_code == 403
    closed = call("post", f"/api/v1/tickets/{ref}/close/", api.rw, {})
    assert closed.status_code == 200 and closed.json()["status"] == Status.CLOSED
    late = call("post", f"/api/v1/tickets/{ref}/reply/", api.rw, {"body": "One more thing"})
    assert late.status_code == 400 and late.json()["error"]["code"] == "ticket_closed"
    assert Message.objects.filter(ticket__reference=ref).count() == 2


def test_customers_never_see_internal_notes(api, queue_setup):
    from tickets.services.tickets import ticket_reply

    ref = call("post", "/api/v1/tickets/", api.rw, new_ticket(api)).json()["reference"]
    ticket = Ticket.objects.get(reference=ref)
    ticket_reply(
        ticket=ticket, author=queue_setup[2][0], body="Customer sounds angry", internal=True
    )
    ticket_reply(ticket=ticket, author=queue_setup[2][0], body="Please send a photo.")
    bodies = [m["body"] for m in call("get", f"/api/v1/tickets/{ref}/", api.ro).json()["messages"]]
    assert "Customer sounds angry" not in bodies and "Please send a photo." in bodies


def test_units_with_warranty_and_open_tickets(api):
    call("post", "/api/v1/tickets/", api.rw, new_ticket(api))
    units = call("get", "/api/v1/units/", api.ro).json()
    assert units["count"] == 1
    assert units["results"][0]["warranty"] in {"active", "expiring", "expired"}
    detail = call("get", f"/api/v1/units/{api.unit.serial_number}/", api.ro).json()
    assert detail["warranty_ends_on"] == api.unit.warranty_ends_on.isoformat()
    assert [t["subject"] for t in detail["open_tickets"]] == ["Wire feed jams every few minutes"]


def test_fault_codes_search(api):
    from equipment.models import FaultCode

    FaultCode.objects.create(
        code="E101", title_en="Protective lens dirty", title_zh="保护镜片污染", severity="minor"
    )
    FaultCode.objects.create(
        code="E202", title_en="Chiller alarm", title_zh="冷水机报警", severity="major"
    )
    found = call("get", "/api/v1/fault-codes/", api.ro, {"q": "冷水机"}).json()
    assert [c["code"] for c in found["results"]] == ["E202"]


def test_portal_session_customer_creates_as_requester(api, client):
    from testsupport import sign_in

    sign_in(client, api.customer)
    response = client.post(
        "/api/v1/tickets/",
        json.dumps(new_ticket(api)),
        content_type="application/json",
    )
    assert response.status_code == 201
    ticket = Ticket.objects.get()
    assert ticket.requester == api.customer and ticket.channel == "portal"


def test_session_writes_need_csrf(api):
    from testsupport import sign_in

    client = Client(enforce_csrf_checks=True)
    sign_in(client, api.customer)
    response = client.post(
        "/api/v1/tickets/", json.dumps(new_ticket(api)), content_type="application/json"
    )
    assert response.status_code == 403
    assert not Ticket.objects.exists()


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/tickets/{reference}/reply/" in text and "Idempotency-Key" in text
    assert "ApiKey" in text


def test_unknown_ticket_is_json_404(api):
    response = call("get", "/api/v1/tickets/WD-2026-999999/", api.ro)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_created_at_is_now(api):
    before = at(2000, 1, 1, 0, 0)
    ref = call("post", "/api/v1/tickets/", api.rw, new_ticket(api)).json()["reference"]
    assert Ticket.objects.get(reference=ref).created_at > before


@pytest.mark.audit_deferred
def test_with_deferred_sealing_the_key_is_the_actor_once_sealed(
    api, django_capture_on_commit_callbacks
):
    from audit.models import PendingAuditEvent
    from audit.services import audit_seal

    audit_seal()
    ref = call("post", "/api/v1/tickets/", api.rw, new_ticket(api)).json()["reference"]
    ticket = Ticket.objects.get(reference=ref)
    assert PendingAuditEvent.objects.filter(action="ticket.opened").exists()
    assert audit_seal() >= 1
    event = AuditEvent.objects.get(action="ticket.opened", target_id=str(ticket.pk))
    assert event.actor_ref == f"api_key:{api.rw_key.pk}"


# ------------------------------------------------------------------- impact (issue 19, point 6)


def test_a_partner_reports_the_impact_and_the_rules_set_the_priority(api, queue_setup):
    body = new_ticket(
        api,
        priority=3,
        fault_report={"production": "stopped", "machines_affected": 2, "safety_risk": False},
    )
    response = call("post", "/api/v1/tickets/", api.rw, body)
    assert response.status_code == 201, response.content
    assert response.json()["priority"] == 1
    ref = response.json()["reference"]
    report = call("get", f"/api/v1/tickets/{ref}/", api.ro).json()["fault_report"]
    assert report["production"] == "stopped"
    assert report["machines_affected"] == 2 and report["safety_risk"] is False


def test_a_partner_reporting_a_safety_risk_gets_p1_and_the_supervisor_is_told(api, queue_setup):
    from notifications.models import Outbox

    supervisor = queue_setup[1]
    body = new_ticket(api, fault_report={"production": "unaffected", "safety_risk": True})
    response = call("post", "/api/v1/tickets/", api.rw, body)
    assert response.status_code == 201 and response.json()["priority"] == 1
    ticket = Ticket.objects.get(reference=response.json()["reference"])
    notice = Outbox.objects.get(key=f"ticket-safety:{ticket.pk}:{supervisor.pk}:email")
    assert notice.recipient == supervisor.email


@pytest.mark.parametrize(
    ("report", "fields"),
    [
        ({"production": "on fire"}, {"production"}),
        ({"machines_affected": 0}, {"machines_affected"}),
        ({"machines_affected": 1000}, {"machines_affected"}),
        ({"machines_affected": "many"}, {"machines_affected"}),
        ({"safety_risk": "perhaps"}, {"safety_risk"}),
        ({"production": ["stopped"], "safety_risk": {}}, {"production", "safety_risk"}),
    ],
)
def test_bad_impact_answers_are_a_clear_400_naming_the_field(api, report, fields):
    response = call("post", "/api/v1/tickets/", api.rw, new_ticket(api, fault_report=report))
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]["fault_report"]) == fields
    assert not Ticket.objects.exists()


def test_the_impact_can_be_sent_as_multipart_parts(api):
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {api.rw}")
    response = client.post(
        "/api/v1/tickets/",
        {
            "subject": "Chiller alarm",
            "body": "The chiller alarms and the laser stops.",
            "unit": api.unit.serial_number,
            "fault_report": json.dumps({"production": "degraded", "machines_affected": 3}),
        },
    )
    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get(reference=response.json()["reference"])
    assert ticket.priority == 2 and ticket.fault_report.machines_affected == 3
    assert ticket.fault_report.safety_risk is None
