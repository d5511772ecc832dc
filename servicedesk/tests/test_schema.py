"""The OpenAPI schema matches the answers (issue 17, point 10).

Real answers of every kind (lists, errors, webhooks) are validated against the schema the
desk serves; schemathesis fuzzes the whole schema in test_schemathesis.py.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from django.core.cache import cache
from django.test import Client

from servicedesk.tests.test_settings import PRODUCTION, SETUP, run
from testsupport import sign_in

pytestmark = pytest.mark.django_db

JSON = "application/json"


@pytest.fixture
def schema(settings) -> dict:
    settings.API_DOCS_PUBLIC = True
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` is `type: [t, "null"]` in JSON Schema."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_to_jsonschema(value) for key, value in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def documented(schema: dict, path: str, method: str, status: int) -> dict:
    """The documented JSON schema of one answer, with the components its $refs name."""
    responses = schema["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    body = responses[str(status)]["content"][JSON]["schema"]
    return _openapi_to_jsonschema({**copy.deepcopy(body), "components": schema["components"]})


def assert_conforms(schema: dict, path: str, method: str, response) -> None:
    assert response["Content-Type"].startswith(JSON), response["Content-Type"]
    jsonschema.validate(response.json(), documented(schema, path, method, response.status_code))


def key(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Api-Key {token}", raise_request_exception=False)


def post(client: Client, path: str, body: Any, **extra):
    return client.post(path, json.dumps(body), content_type=JSON, **extra)


# ------------------------------------------------------------------------ lists


def test_fault_codes_are_documented_as_the_paginated_object_they_return(schema, tenants):
    a, _b = tenants
    documented_page = documented(schema, "/api/v1/fault-codes/", "get", 200)
    component = schema["components"]["schemas"][documented_page["$ref"].rsplit("/", 1)[1]]
    assert component["type"] == "object"
    assert {"count", "next", "previous", "results"} <= set(component["properties"])
    response = key(a.key).get("/api/v1/fault-codes/")
    assert set(response.json()) == {"count", "next", "previous", "results"}
    assert_conforms(schema, "/api/v1/fault-codes/", "get", response)


def test_every_list_answer_matches_its_documented_page(schema, tenants):
    a, _b = tenants
    client = key(a.key)
    for path in ("/api/v1/tickets/", "/api/v1/units/", "/api/v1/organisations/"):
        assert_conforms(schema, path, "get", client.get(path, {"page_size": 1}))
    # The ticket list's cursor mode answers the same page without a count.
    cursor = client.get("/api/v1/tickets/", {"cursor": ""})
    assert "count" not in cursor.json()
    assert_conforms(schema, "/api/v1/tickets/", "get", cursor)


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "101", "1e2", "５", ""])
def test_page_size_accepts_whole_numbers_from_1_to_100_only(schema, tenants, value):
    a, _b = tenants
    for path in ("/api/v1/tickets/", "/api/v1/units/", "/api/v1/fault-codes/"):
        response = key(a.key).get(path, {"page_size": value})
        assert response.status_code == 400, (path, value)
        assert list(response.json()["error"]["fields"]) == ["page_size"]
        assert_conforms(schema, path, "get", response)
    assert key(a.key).get("/api/v1/tickets/", {"page_size": value, "cursor": ""}).status_code == 400


def test_page_size_is_documented_as_an_integer(schema, tenants):
    a, _b = tenants
    for path in ("/api/v1/tickets/", "/api/v1/units/", "/api/v1/fault-codes/"):
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert parameters["page_size"]["schema"] == {
            "type": "integer",
            "minimum": 1,
            "maximum": 100,
        }
        assert parameters["page"]["schema"]["type"] == "integer"
    assert len(key(a.key).get("/api/v1/fault-codes/", {"page_size": 100}).json()["results"]) >= 0


# ------------------------------------------------------------------------ errors


ISSUE_STATUSES = {400, 401, 403, 404, 409, 422, 429}


def test_every_operation_documents_its_errors_with_the_one_error_schema(schema):
    error_ref = "#/components/schemas/Error"
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            statuses = {int(code) for code in responses if code[0] in "45"}
            assert {400, 503} <= statuses, (method, path)
            if operation.get("security") and {"ApiKey": []} in operation["security"]:
                assert {401, 403, 429} <= statuses, (method, path)
            if "{" in path:
                assert 404 in statuses, (method, path)
            if "kuaidi100" in path:
                continue  # answers in Kuaidi100's own format (documented per status)
            for code in statuses:
                assert responses[str(code)]["content"][JSON]["schema"] == {"$ref": error_ref}
    # The ticket writes that take an Idempotency-Key document all the statuses of the issue.
    for path in ("/api/v1/tickets/", "/api/v1/tickets/{reference}/reply/"):
        codes = {int(c) for c in schema["paths"][path]["post"]["responses"]}
        assert ISSUE_STATUSES - {404} <= codes and 201 in codes


def test_real_error_answers_match_the_documented_error_schema(schema, tenants, settings):
    a, _b = tenants
    reply = f"/api/v1/tickets/{a.ticket.reference}/reply/"
    rw, ro = key(a.key), key(a.read_key)
    answers = {
        400: ("/api/v1/tickets/", "post", post(rw, "/api/v1/tickets/", {"priority": 9})),
        401: ("/api/v1/tickets/", "get", key("wdk_nope").get("/api/v1/tickets/")),
        403: ("/api/v1/tickets/", "post", post(ro, "/api/v1/tickets/", {"subject": "x"})),
        404: (
            "/api/v1/tickets/{reference}/",
            "get",
            rw.get("/api/v1/tickets/WD-2000-000000/"),
        ),
        409: (
            "/api/v1/tickets/{reference}/reply/",
            "post",
            post(rw, reply, {"body": "late", "expected_version": 1_000}),
        ),
    }
    post(rw, reply, {"body": "once"}, HTTP_IDEMPOTENCY_KEY="k-1")
    answers[422] = (
        "/api/v1/tickets/{reference}/reply/",
        "post",
        post(rw, reply, {"body": "another"}, HTTP_IDEMPOTENCY_KEY="k-1"),
    )
    cache.clear()
    settings.API_KEY_RATE_PER_MINUTE = 1
    ro.get("/api/v1/units/")
    throttled = ro.get("/api/v1/units/")
    if throttled.status_code == 200:  # the two straddled a minute (the window is fixed)
        throttled = ro.get("/api/v1/units/")
    answers[429] = ("/api/v1/units/", "get", throttled)
    for status, (path, method, response) in answers.items():
        assert response.status_code == status, (status, response.content)
        assert_conforms(schema, path, method, response)
    assert answers[429][2]["Retry-After"]


def test_a_fault_report_with_its_impact_matches_the_documented_ticket(schema, tenants):
    a, _b = tenants
    rw = key(a.key)
    created = post(
        rw,
        "/api/v1/tickets/",
        {
            "subject": "Laser stops mid-seam",
            "body": "Welding stopped on two machines.",
            "unit": a.unit.serial_number,
            "fault_report": {"production": "stopped", "machines_affected": 2, "safety_risk": True},
        },
    )
    assert created.status_code == 201, created.content
    assert_conforms(schema, "/api/v1/tickets/", "post", created)
    path = "/api/v1/tickets/{reference}/"
    detail = rw.get(f"/api/v1/tickets/{created.json()['reference']}/")
    assert_conforms(schema, path, "get", detail)
    assert detail.json()["fault_report"]["production"] == "stopped"
    components = schema["components"]["schemas"]
    report = components["FaultReportInRequest"]["properties"]
    assert components["ProductionEnum"]["enum"] == ["stopped", "degraded", "unaffected"]
    machines = report["machines_affected"]
    assert (machines["minimum"], machines["maximum"]) == (1, 999)
    assert report["safety_risk"]["type"] == "boolean"


# ------------------------------------------------------------------------ webhooks


def test_the_machine_webhooks_are_in_the_schema_and_answer_as_documented(schema, settings):
    hooks = {
        "/api/v1/alerts/alertmanager": "ALERTMANAGER_TOKEN",
        "/api/v1/telephony/events": "TELEPHONY_TOKEN",
    }
    for path, setting in hooks.items():
        operation = schema["paths"][path]["post"]
        assert operation["security"] == [{"MachineBearer": []}]
        assert list(operation["requestBody"]["content"]) == [JSON]
        setattr(settings, setting, "t")
        client = Client(HTTP_AUTHORIZATION="Bearer t")
        assert_conforms(schema, path, "post", client.post(path, "[", content_type=JSON))
        assert_conforms(schema, path, "post", Client().post(path, "{}", content_type=JSON))
    from status.tests.test_alerts import alert, webhook

    answer = Client(HTTP_AUTHORIZATION="Bearer t").post(
        "/api/v1/alerts/alertmanager", json.dumps(webhook(alert())), content_type=JSON
    )
    assert answer.status_code == 200
    assert_conforms(schema, "/api/v1/alerts/alertmanager", "post", answer)
    event = {"call_id": "c1", "line": "east-1", "event": "started", "at": "2026-03-02T09:00+08:00"}
    answer = Client(HTTP_AUTHORIZATION="Bearer t").post(
        "/api/v1/telephony/events", json.dumps({"events": [event]}), content_type=JSON
    )
    assert answer.status_code == 200
    assert_conforms(schema, "/api/v1/telephony/events", "post", answer)
    push = "/api/v1/logistics/kuaidi100/push"
    assert list(schema["paths"][push]["post"]["requestBody"]["content"]) == [
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ]
    assert_conforms(schema, push, "post", Client().post(push, {"param": "{}", "sign": "x"}))


def test_an_impossible_date_in_a_webhook_is_a_400(settings):
    settings.TELEPHONY_TOKEN = "t"
    event = {"call_id": "c1", "line": "east-1", "event": "started", "at": "2026-13-45T09:00+08:00"}
    answer = Client(HTTP_AUTHORIZATION="Bearer t", raise_request_exception=False).post(
        "/api/v1/telephony/events", json.dumps({"events": [event]}), content_type=JSON
    )
    assert answer.status_code == 400


# --------------------------------------------------------------- who may read it


def test_schema_and_docs_need_a_sign_in_or_a_key_unless_opened(settings, tenants):
    a, _b = tenants
    settings.API_DOCS_PUBLIC = False
    anonymous = Client()
    refused = anonymous.get("/api/schema/")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")
    assert key(a.key).get("/api/schema/").status_code == 200
    customer = sign_in(Client(), a.customer)
    assert customer.get("/api/schema/").status_code == 200
    assert customer.get("/api/docs/").status_code == 200
    settings.API_DOCS_PUBLIC = True
    assert anonymous.get("/api/schema/").status_code == 200
    assert anonymous.get("/api/docs/").status_code == 200


def test_the_docs_are_closed_by_default_in_production_and_open_in_development(tmp_path):
    code = SETUP + "from django.conf import settings; print(settings.API_DOCS_PUBLIC)"
    assert run(code, PRODUCTION, tmp_path).stdout.strip() == "False"
    assert run(code, {**PRODUCTION, "API_DOCS_PUBLIC": "1"}, tmp_path).stdout.strip() == "True"
    assert run(code, {"DEBUG": "1"}, tmp_path).stdout.strip() == "True"


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.0"])
def test_a_page_that_is_no_page_number_is_a_400_in_both_modes(schema, tenants, value):
    a, _b = tenants
    for params in ({"page": value}, {"page": value, "cursor": ""}):
        response = key(a.key).get("/api/v1/tickets/", params)
        assert response.status_code == 400, params
        assert list(response.json()["error"]["fields"]) == ["page"]
        assert_conforms(schema, "/api/v1/tickets/", "get", response)
    assert key(a.key).get("/api/v1/tickets/", {"page": 99}).status_code == 404
