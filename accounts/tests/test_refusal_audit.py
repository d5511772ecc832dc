"""Every 403 is audited like a 404-by-policy: actor, URL, ids and time (checklist 16).

404s of another organisation's objects are audited where the object is refused
(accounts.permissions.get_scoped_or_404; walked over every id-taking URL in
servicedesk/tests/test_url_walk.py). A 403 is audited once, whoever refused.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts import roles
from accounts.models import ApiScope
from audit.models import AuditEvent
from testsupport import sign_in
from tickets.tests import conftest as ticket_fixtures

pytestmark = pytest.mark.django_db

machine = ticket_fixtures.machine
make_unit = ticket_fixtures.make_unit
sla_setup = ticket_fixtures.sla_setup
queue_setup = ticket_fixtures.queue_setup
open_ticket = ticket_fixtures.open_ticket


def denied() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="access.denied").order_by("seq"))


@pytest.fixture
def read_key(make_customer, make_staff):
    from accounts.services.api_keys import api_key_create

    customer = make_customer()
    key, token = api_key_create(
        actor=make_staff(roles=[roles.SUPERVISOR]),
        organisation=customer.organisation,
        name="BI",
        scope=ApiScope.READ,
    )
    return key, token


def test_a_read_only_key_writing_is_refused_and_audited_once(read_key):
    key, token = read_key
    response = Client(HTTP_AUTHORIZATION=f"Api-Key {token}").post(
        "/api/v1/tickets/", json.dumps({"subject": "x"}), content_type="application/json"
    )
    assert response.status_code == 403
    (event,) = denied()
    assert event.actor_ref == f"api_key:{key.pk}"
    assert (event.target_type, event.target_id, event.outcome) == ("url", "api-tickets", "denied")
    assert event.data == {
        "route": "/api/v1/tickets/",
        "method": "POST",
        "status": 403,
        "code": "permission_denied",
        "ids": {},
    }
    assert event.at is not None


def test_a_customer_refused_a_staff_act_is_audited_with_the_object_id(client, open_ticket):
    ticket = open_ticket()
    customer = ticket.requester
    sign_in(client, customer)
    response = client.post(
        f"/api/v1/tickets/{ticket.reference}/reply/",
        json.dumps({"body": "psst", "internal": True}),
        content_type="application/json",
    )
    assert response.status_code == 403
    (event,) = denied()
    assert event.actor_ref == f"user:{customer.pk}"
    assert event.target_id == "api-ticket-reply"
    assert event.data["ids"] == {"reference": ticket.reference}
    assert event.data["code"] == "forbidden"


def test_staff_without_a_second_factor_on_the_api_is_refused_and_audited(client, make_staff):
    agent = make_staff()
    sign_in(client, agent, verified=False)
    assert client.get("/api/v1/me/").status_code == 403
    (event,) = denied()
    assert (event.actor_ref, event.data["code"]) == (f"user:{agent.pk}", "otp_required")


def test_a_page_refusal_by_permission_is_audited(client, make_staff, make_customer):
    agent = make_staff(roles=[roles.AGENT])  # may view people, not change them
    customer = make_customer()
    sign_in(client, agent)
    response = client.post(f"/admin/accounts/user/{customer.pk}/change/", {"full_name": "x"})
    assert response.status_code == 403
    (event,) = denied()
    assert event.actor_ref == f"user:{agent.pk}"
    assert event.target_id == "admin:accounts_user_change"
    assert event.data["ids"] == {"object_id": str(customer.pk)}


def test_a_failed_csrf_check_is_audited_without_the_token(make_customer):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"email": "a@b.c", "password": "x"})
    assert response.status_code == 403
    (event,) = denied()
    assert event.actor_ref == "anonymous" and event.data["route"] == "/accounts/login/"


def test_tokens_in_the_url_are_not_written_to_the_audit(client):
    from django.http import HttpResponseForbidden
    from django.test import RequestFactory
    from django.urls import resolve

    from accounts.permissions import access_denied_record

    request = RequestFactory().get("/accounts/password/reset/MQ/abc-secret/")
    request.resolver_match = resolve("/accounts/password/reset/MQ/abc-secret/")
    access_denied_record(request=request, response=HttpResponseForbidden())
    (event,) = denied()
    assert "abc-secret" not in json.dumps(event.data) and event.data["ids"] == {}


def test_one_rule_keeps_url_secrets_out_of_both_the_access_log_and_the_audit(monkeypatch):
    """The access log (core.middleware) and the refusal audit (accounts.permissions) withhold
    the same URL parameters because they ask the same rule: widening it widens both."""
    import re

    from django.http import HttpResponseForbidden
    from django.test import RequestFactory
    from django.urls import resolve

    from accounts.permissions import access_denied_record
    from core import middleware

    def refused_and_logged() -> tuple[dict, str]:
        request = RequestFactory().post("/admin/accounts/user/17/change/")
        request.resolver_match = resolve("/admin/accounts/user/17/change/")
        access_denied_record(request=request, response=HttpResponseForbidden())
        return denied()[-1].data["ids"], middleware.loggable_kwargs(request)

    assert refused_and_logged() == ({"object_id": "17"}, "object_id=17")
    monkeypatch.setattr(
        middleware, "SECRET_KWARGS", re.compile(middleware.SECRET_KWARGS.pattern + "|object_id")
    )
    assert refused_and_logged() == ({}, "")
