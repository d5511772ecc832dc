"""The request's user: one query for the user, their second factor, roles, regions and
permissions, read fresh on every request; sessions read through the cache, ended at once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import roles
from accounts.models import UserSession
from accounts.services.users import user_change_password
from testsupport import sign_in

pytestmark = pytest.mark.django_db

TICKETS = "/admin/tickets/ticket/"


def sql_of(client: Client, url: str) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response.status_code, [q["sql"] for q in captured.captured_queries]


def test_a_staff_request_asks_for_its_user_once(client, make_staff):
    agent = make_staff(roles=(roles.AGENT,))
    sign_in(client, agent)
    client.get(TICKETS)
    status, sql = sql_of(client, TICKETS)
    assert status == 200
    about_the_user = [
        q
        for q in sql
        if any(
            table in q
            for table in ('"otp_totp_totpdevice"', '"auth_permission"', '"accounts_user_regions"')
        )
        and not q.startswith('SELECT "tickets_')
    ]
    assert len(about_the_user) == 1, about_the_user  # the device, its user and their access
    assert not any('"django_session"' in q for q in sql)  # read through the cache


def test_a_customer_page_reads_the_organisation_with_the_user(client, make_customer):
    """Every portal page reads the customer's organisation (scope, region banners): it comes
    in the user's own query, not one of its own."""
    customer = make_customer()
    sign_in(client, customer)
    client.get("/portal/")
    status, sql = sql_of(client, "/portal/")
    assert status == 200
    alone = [q for q in sql if q.startswith('SELECT "accounts_organisation"')]
    assert alone == []
    assert any('"accounts_organisation"' in q and '"accounts_user"' in q for q in sql)


def test_a_role_taken_away_applies_on_the_next_click(client, make_staff):
    agent = make_staff(roles=(roles.AGENT,))
    sign_in(client, agent)
    assert client.get(TICKETS).status_code == 200
    agent.groups.remove(Group.objects.get(name=roles.AGENT))
    assert client.get(TICKETS).status_code == 403


def test_a_removed_second_factor_applies_on_the_next_click(client, make_staff):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    agent = make_staff(roles=(roles.AGENT,))
    sign_in(client, agent)
    assert client.get(TICKETS).status_code == 200
    TOTPDevice.objects.filter(user=agent).delete()
    response = client.get(TICKETS)
    assert response.status_code == 302 and "/accounts/" in response["Location"]


def test_an_ended_session_leaves_the_cache_at_once(make_staff):
    from accounts.sessions import KEY_PREFIX
    from core import softcache

    agent = make_staff(roles=(roles.AGENT,))
    laptop = sign_in(Client(), agent)
    assert laptop.get(TICKETS).status_code == 200
    key = laptop.session.session_key
    UserSession.objects.create(session_key=key, user=agent)  # as signing in records it
    assert softcache.get(KEY_PREFIX + key) is not None  # the copy a click reads
    user_change_password(user=agent, new_password="A-new-passphrase-2026", actor=agent)
    assert softcache.get(KEY_PREFIX + key) is None
    assert laptop.get(TICKETS).status_code == 302


def test_with_the_cache_down_people_stay_signed_in_and_can_sign_out(
    client, make_staff, monkeypatch
):
    from core import softcache

    agent = make_staff(roles=(roles.AGENT,))
    sign_in(client, agent)
    assert client.get(TICKETS).status_code == 200

    class Down:
        def __getattr__(self, name):
            raise ConnectionError("cache down")

    monkeypatch.setattr(softcache, "cache", Down())
    assert client.get(TICKETS).status_code == 200  # the session's row, not a 500
    assert client.post("/accounts/logout/").status_code in (200, 302)
    assert client.get(TICKETS).status_code == 302
