"""Bad input is a clear 4xx, never a 500; every API error is JSON; a lost database is a 503.

PostgreSQL refuses NUL in text, Python's json recurses once per nesting level: both used to
end in a 500 (issue 17, point 7). The URL walk over every pattern is in test_url_walk.py.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection, connections
from django.test import Client

from accounts.services.api_keys import api_key_create
from servicedesk.tests.conftest import PNG
from testsupport import sign_in
from tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def key_client(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Api-Key {token}", raise_request_exception=False)


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


# ------------------------------------------------------------------------------ NUL bytes


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tickets/?q=%00",
        "/api/v1/tickets/?status=open&unit=%00",
        "/api/v1/tickets/%00/",
        "/api/v1/units/%00/",
        "/api/v1/units/?q=a%00b",
        "/api/v1/fault-codes/?product_line=%00",
        "/api/v1/tickets/?%00=1",
    ],
)
def test_a_nul_in_an_api_path_or_query_is_a_json_400_naming_where(tenants, path):
    a, _b = tenants
    error = assert_json_error(key_client(a.key).get(path), 400, "null_character")
    assert list(error["fields"].values()) == [["Null characters are not allowed."]]


@pytest.mark.parametrize(
    "path",
    ["/portal/machines/%00/", "/portal/tickets/%00/", "/portal/tickets/?q=%00", "/portal/?x=%00"],
)
def test_a_nul_in_a_portal_path_or_query_is_a_400(tenants, path):
    a, _b = tenants
    client = sign_in(Client(raise_request_exception=False), a.customer)
    response = client.get(path)
    assert response.status_code == 400
    assert "null character" in response.content.decode()


def test_a_refusal_before_the_locale_is_chosen_does_not_speak_the_last_visitors_language(
    tenants, make_staff
):
    """A thread that served a Chinese agent answers the next visitor's NUL in the default
    language, not in Chinese (each request starts from the default)."""
    a, _b = tenants
    chinese = sign_in(Client(), make_staff(roles=("agent",), language="zh-hans"))
    assert "工单" in chinese.get("/admin/tickets/ticket/").content.decode()
    error = assert_json_error(key_client(a.key).get("/api/v1/tickets/?q=%00"), 400)
    assert list(error["fields"].values()) == [["Null characters are not allowed."]]


def test_a_nul_in_the_admin_search_is_a_400(tenants, make_staff):
    client = sign_in(Client(raise_request_exception=False), make_staff(roles=("supervisor",)))
    assert client.get("/admin/accounts/user/?q=%00").status_code == 400
    assert client.get("/admin/tickets/ticket/?q=x%00").status_code == 400


def test_a_nul_in_a_json_field_is_a_400_naming_the_field_and_writes_nothing(tenants):
    a, _b = tenants
    before = Ticket.objects.count()
    body = {
        "subject": "Wire feed jams",
        "body": "The wire stops.",
        "unit": a.unit.serial_number,
        "fault_report": {"fault_code": "\u0000", "shielding_gas": "argon"},
    }
    response = key_client(a.key).post(
        "/api/v1/tickets/", json.dumps(body), content_type="application/json"
    )
    error = assert_json_error(response, 400, "invalid")
    assert error["fields"] == {"fault_report": {"fault_code": ["Null characters are not allowed."]}}
    # A NUL in a key or deep in a list is found too.
    for bad in ({"tags": ["ok", "x\u0000"]}, {"fault_report": {"a\u0000b": 1}}):
        response = key_client(a.key).post(
            "/api/v1/tickets/", json.dumps({**body, **bad}), content_type="application/json"
        )
        assert_json_error(response, 400, "invalid")
    assert Ticket.objects.count() == before


def test_a_nul_in_a_form_or_multipart_field_is_a_400(tenants):
    a, _b = tenants
    before = Message.objects.count()
    client = key_client(a.key)
    multipart = client.post(
        f"/api/v1/tickets/{a.ticket.reference}/reply/", {"body": "x\x00y", "attachments": []}
    )
    assert_json_error(multipart, 400, "invalid")
    urlencoded = client.post(
        f"/api/v1/tickets/{a.ticket.reference}/reply/",
        "body=x%00y",
        content_type="application/x-www-form-urlencoded",
    )
    assert_json_error(urlencoded, 400, "null_character")
    assert Message.objects.count() == before
    # The sign-in form and the portal's forms too.
    login = Client().post("/accounts/login/", {"email": "a\x00@b.c", "password": "x"})
    assert login.status_code == 400
    page = sign_in(Client(raise_request_exception=False), a.customer)
    response = page.post(
        f"/portal/tickets/{a.ticket.reference}/",
        "action=reply&body=hello%00",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert Message.objects.count() == before
    # A form's field read outside a Django form (the chat page's message), sent as multipart.
    from chat.models import ChatMessage

    chats = ChatMessage.objects.count()
    response = page.post("/portal/chat/", {"action": "send", "body": "seam\x00pores"})
    assert response.status_code == 400
    assert ChatMessage.objects.count() == chats


# ------------------------------------------------------------------------------ deep JSON


def test_json_nested_100000_deep_is_a_400_on_the_ticket_api(tenants):
    a, _b = tenants
    client = key_client(a.key)
    for path in (
        "/api/v1/tickets/",
        f"/api/v1/tickets/{a.ticket.reference}/reply/",
        f"/api/v1/tickets/{a.ticket.reference}/close/",
    ):
        error = assert_json_error(
            client.post(path, DEEP, content_type="application/json"), 400, "parse_error"
        )
        assert "nested" in error["message"]
        # With an Idempotency-Key the body is fingerprinted first: still a 400.
        response = client.post(
            path, DEEP, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep-1"
        )
        assert_json_error(response, 400, "parse_error")


@pytest.mark.parametrize(
    ("path", "setting"),
    [
        ("/api/v1/alerts/alertmanager", "ALERTMANAGER_TOKEN"),
        ("/api/v1/telephony/events", "TELEPHONY_TOKEN"),
    ],
)
def test_json_nested_100000_deep_is_a_400_on_the_machine_webhooks(settings, path, setting):
    setattr(settings, setting, "machine-token")
    client = Client(HTTP_AUTHORIZATION="Bearer machine-token", raise_request_exception=False)
    assert_json_error(client.post(path, DEEP, content_type="application/json"), 400, "too_deep")
    nul = client.post(path, '{"events": ["\\u0000"]}', content_type="application/json")
    assert_json_error(nul, 400, "null_character")


def test_every_json_operation_of_the_schema_refuses_json_100000_deep(tenants, settings):
    """Read from the schema, so an endpoint added later is covered without listing it."""
    from drf_spectacular.generators import SchemaGenerator

    a, _b = tenants
    settings.ALERTMANAGER_TOKEN = settings.TELEPHONY_TOKEN = "machine-token"
    schema = SchemaGenerator().get_schema(request=None, public=True)
    values = {"reference": a.ticket.reference, "serial_number": a.unit.serial_number}
    walked = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "application/json" not in operation.get("requestBody", {}).get("content", {}):
                continue
            url = path.format(**{**values, "id": a.org.pk})
            bearer = {"MachineBearer": []} in (operation.get("security") or [])
            scope = operation.get("x-api-key-scope")
            if bearer:
                client = Client(
                    HTTP_AUTHORIZATION="Bearer machine-token", raise_request_exception=False
                )
            elif scope:  # an operation only a key of its own scope may call (alarms)
                _key, token = api_key_create(
                    actor=None, organisation=a.org, name=f"deep {walked}", scope=scope
                )
                client = key_client(token)
            else:
                client = key_client(a.key)
            response = getattr(client, method)(url, DEEP, content_type="application/json")
            assert response.status_code == 400, (method, path, response.content[:200])
            assert response.json()["error"]["code"] in ("parse_error", "too_deep")
            walked += 1
    assert walked >= 6  # ticket create, reply, close, alarms and the two JSON webhooks


def test_a_signed_in_customer_may_post_a_multipart_form_with_an_idempotency_key(tenants):
    """The session's CSRF check reads the form first; the key's fingerprint then hashes the
    parsed fields and files (it used to ask for the raw body, gone by then: a 500)."""
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile

    a, _b = tenants
    client = sign_in(Client(enforce_csrf_checks=True, raise_request_exception=False), a.customer)
    csrf = "c" * 32  # an unmasked CSRF secret, as the portal's script sends it
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf

    def post():
        return client.post(
            f"/api/v1/tickets/{a.ticket.reference}/reply/",
            {"body": "photo", "attachments": [SimpleUploadedFile("a.png", PNG, "image/png")]},
            HTTP_IDEMPOTENCY_KEY="reply-1",
            HTTP_X_CSRFTOKEN=csrf,
        )

    before = Message.objects.filter(ticket=a.ticket).count()
    first, again = post(), post()
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Message.objects.filter(ticket=a.ticket).count() == before + 1


def test_json_nested_100000_deep_is_refused_by_the_kuaidi100_push(settings):
    from logistics import carriers

    settings.KUAIDI100_SALT = "salt"
    param = "[" * 5000 + "]" * 5000
    response = Client(raise_request_exception=False).post(
        "/api/v1/logistics/kuaidi100/push",
        {"param": param, "sign": carriers.kuaidi100_sign(param, "salt")},
    )
    assert response.status_code == 400
    assert response.json()["message"] == "unreadable push"


def test_json_nested_100000_deep_is_a_400_on_the_push_subscription(tenants):
    a, _b = tenants
    client = sign_in(Client(raise_request_exception=False), a.customer)
    response = client.post("/portal/profile/push/", DEEP, content_type="application/json")
    assert response.status_code == 400


def test_a_json_body_over_the_upload_limit_is_a_json_413(tenants, settings):
    a, _b = tenants
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    body = json.dumps({"subject": "x", "body": "y" * 5000})
    client = key_client(a.key)
    assert_json_error(
        client.post("/api/v1/tickets/", body, content_type="application/json"), 413, "too_large"
    )
    # Django's own check (request.body) answers 413 too, in JSON under /api/.
    settings.TELEPHONY_TOKEN = "t"
    response = Client(HTTP_AUTHORIZATION="Bearer t", raise_request_exception=False).post(
        "/api/v1/telephony/events", body, content_type="application/json"
    )
    assert_json_error(response, 413, "too_large")


# --------------------------------------------------------------- API errors are JSON


def test_in_production_every_api_error_is_json(tenants, settings, monkeypatch):
    """With DEBUG off: Django's 404 and 405, a 500 of a DRF view and of a plain view."""
    a, _b = tenants
    settings.DEBUG = False
    client = key_client(a.key)
    assert_json_error(client.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_json_error(Client().get("/api/nothing"), 404, "not_found")
    not_allowed = Client().get("/api/v1/telephony/events")
    assert_json_error(not_allowed, 405, "method_not_allowed")
    assert "POST" in not_allowed["Allow"]

    def broken(**kwargs):
        raise RuntimeError("a bug")

    from status import alerts
    from tickets import selectors

    monkeypatch.setattr(selectors, "ticket_list", broken)
    assert_json_error(client.get("/api/v1/tickets/"), 500, "server_error")
    settings.ALERTMANAGER_TOKEN = "t"
    monkeypatch.setattr(alerts, "receive", lambda payload: broken())
    response = Client(HTTP_AUTHORIZATION="Bearer t", raise_request_exception=False).post(
        "/api/v1/alerts/alertmanager", "{}", content_type="application/json"
    )
    assert_json_error(response, 500, "server_error")
    assert "a bug" not in response.content.decode()
    # Pages keep their HTML error pages.
    assert Client().get("/portal/no-such-page/")["Content-Type"].startswith("text/html")


def test_a_disallowed_host_on_the_api_is_a_json_400(settings):
    settings.DEBUG = False
    response = Client(raise_request_exception=False).get("/api/v1/me/", HTTP_HOST="evil.example")
    assert_json_error(response, 400, "bad_request")


# ------------------------------------------------------------------ a lost database


def _terminate_backend_of(wrapper) -> None:
    """Kill the server process behind a connection, from another connection (as a failover,
    a restart or an idle-timeout would)."""
    pid = wrapper.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    finally:
        other.close()


@pytest.fixture
def killing(monkeypatch):
    """Make a function kill the request's own database connection before it runs."""

    def kill_before(module, name):
        original = getattr(module, name)

        def killed(*args, **kwargs):
            _terminate_backend_of(connection)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, killed)

    yield kill_before
    connection.close()  # the next query reconnects


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_connection_killed_under_an_api_request_is_a_json_503_with_retry_after(
    tenants, killing, settings
):
    from tickets import selectors

    a, _b = tenants
    settings.DEBUG = False
    client = key_client(a.key)
    assert client.get("/api/v1/tickets/").status_code == 200
    killing(selectors, "ticket_list")
    response = client.get("/api/v1/tickets/")
    assert_json_error(response, 503, "unavailable")
    assert response["Retry-After"] == "5"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_connection_killed_under_a_webhook_or_a_page_is_a_503(
    tenants, killing, settings
):
    from status import alerts
    from tickets import selectors

    a, _b = tenants
    settings.DEBUG = False
    settings.ALERTMANAGER_TOKEN = "t"
    from status.tests.test_alerts import alert, webhook

    killing(alerts, "_apply")
    response = Client(HTTP_AUTHORIZATION="Bearer t", raise_request_exception=False).post(
        "/api/v1/alerts/alertmanager", json.dumps(webhook(alert())), content_type="application/json"
    )
    assert_json_error(response, 503, "unavailable")
    assert response["Retry-After"] == "5"
    connection.close()
    killing(selectors, "ticket_list")
    page = sign_in(Client(raise_request_exception=False), a.customer)
    response = page.get("/portal/tickets/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_persistent_connection_killed_between_requests_is_replaced_unnoticed(tenants):
    """conn_health_checks: the next request finds the dead connection and opens a new one."""
    from django.db import close_old_connections

    a, _b = tenants
    client = key_client(a.key)
    assert client.get("/api/v1/tickets/").status_code == 200
    _terminate_backend_of(connection)
    close_old_connections()  # what request_started does at the start of every request
    assert client.get("/api/v1/tickets/").status_code == 200


def test_multipart_with_a_real_file_still_works(tenants):
    """The NUL checks leave file bytes alone (a PNG holds NUL bytes)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    a, _b = tenants
    response = key_client(a.key).post(
        f"/api/v1/tickets/{a.ticket.reference}/reply/",
        {"body": "photo", "attachments": [SimpleUploadedFile("a.png", PNG, "image/png")]},
    )
    assert response.status_code == 201, response.content
