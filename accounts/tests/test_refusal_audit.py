"""Every 403 is audited like a 404-by-policy: actor, URL, ids and time (checklist 16).

404s of another organisation's objects are audited where the object is refused
(accounts.permissions.get_scoped_or_404; walked over every id-taking URL in
servicedesk/tests/test_url_walk.py). A 403 is audited once, whoever refused.
"""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse
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


@pytest.fixture(autouse=True)
def _no_refusals_counted_yet():
    """Anonymous refusals are audited per client network a minute, counted in the cache."""
    from django.core.cache import cache

    cache.clear()


def refusals(caller: str, audited: bool) -> float:
    from prometheus_client import REGISTRY

    labels = {"caller": caller, "audited": str(audited).lower()}
    return REGISTRY.get_sample_value("welddesk_refusals_total", labels) or 0


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


def anonymous_refusal(client: Client, n: int) -> HttpResponse:
    """An anonymous 403 anyone can send: a failed CSRF check, or a bad signature on the
    courier's push webhook (no throttle there)."""
    if n % 2:
        return client.post("/accounts/login/", {"email": "a@b.c", "password": "x"})
    return client.post("/api/v1/logistics/kuaidi100/push", {"param": "{}", "sign": "BAD"})


def test_anonymous_refusals_are_all_counted_but_audited_at_most_n_per_network_a_minute(settings):
    """200 anonymous 403s append at most REFUSAL_AUDIT_ANONYMOUS_PER_MINUTE events to the
    chain (anyone could send them without end); the metric counts all 200."""
    limit = settings.REFUSAL_AUDIT_ANONYMOUS_PER_MINUTE
    assert 0 < limit < 200
    before = refusals("anonymous", True), refusals("anonymous", False)
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.7")
    for n in range(200):
        assert anonymous_refusal(client, n).status_code == 403
    assert len(denied()) == limit
    audited, only_counted = (
        refusals("anonymous", True) - before[0],
        refusals("anonymous", False) - before[1],
    )
    assert (audited, audited + only_counted) == (limit, 200)
    # The limit is per client network: another network's first refusal is still audited, a
    # neighbour in the same /24 is not.
    neighbour = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.8")
    assert anonymous_refusal(neighbour, 1).status_code == 403
    assert len(denied()) == limit
    anonymous_refusal(Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.7"), 1)
    assert len(denied()) == limit + 1


def test_a_refusal_of_a_person_is_audited_every_time(settings, client, make_staff, make_customer):
    settings.REFUSAL_AUDIT_ANONYMOUS_PER_MINUTE = 2
    agent = make_staff(roles=[roles.AGENT])
    customer = make_customer()
    sign_in(client, agent)
    before = refusals("known", True)
    for _ in range(5):
        response = client.post(f"/admin/accounts/user/{customer.pk}/change/", {"full_name": "x"})
        assert response.status_code == 403
    assert [e.actor_ref for e in denied()] == [f"user:{agent.pk}"] * 5
    assert refusals("known", True) - before == 5


def test_with_the_cache_down_anonymous_refusals_are_counted_not_audited(
    monkeypatch, client, make_staff, make_customer
):
    """The counter of the rate lives in the cache: without it, anonymous refusals are only
    counted (no flood through a cache outage), people's still audited, and no answer is a
    500."""
    from core import softcache

    class Down:
        def __getattr__(self, name):
            raise ConnectionError("cache down")

    monkeypatch.setattr(softcache, "cache", Down())
    before = refusals("anonymous", False)
    anonymous = Client(enforce_csrf_checks=True)
    for n in range(4):
        assert anonymous_refusal(anonymous, n).status_code == 403
    assert denied() == [] and refusals("anonymous", False) - before == 4
    agent = make_staff(roles=[roles.AGENT])
    sign_in(client, agent)
    customer = make_customer()
    assert client.post(f"/admin/accounts/user/{customer.pk}/change/", {}).status_code == 403
    assert [e.actor_ref for e in denied()] == [f"user:{agent.pk}"]
