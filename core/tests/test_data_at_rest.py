"""Personal data at rest: after a person's life in the desk (sign-up, profile changes, failed
sign-ins, a password reset, a ticket with mails), no table holds their e-mail address, phone
number or name in plaintext, read with raw SQL as `psql` would; and the three keys differ."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import reverse

from core.checks import check_keys

pytestmark = pytest.mark.django_db

EMAIL = "liu.fang@hengrui-weld.example"
NEW_EMAIL = "fang.liu@hengrui-weld.example"
PHONE = "13913064410"
NAME = "刘芳 Liu Fang"


def every_text_cell() -> dict[str, str]:
    """Each table's rows as one string, read with raw SQL."""
    tables = connection.introspection.table_names()
    dump: dict[str, str] = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            dump[table] = " ".join(
                (
                    bytes(v).decode("utf-8", "replace")
                    if isinstance(v, bytes | memoryview)
                    else str(v)
                )
                for row in cursor.fetchall()
                for v in row
            )
    return dump


def test_no_table_holds_a_persons_email_phone_or_name_in_plaintext(
    client, make_customer, django_capture_on_commit_callbacks, settings
):
    from accounts.services import Reauthentication, user_update_profile
    from tickets.services.tickets import ticket_open

    cache.clear()
    settings.CLAMD_ADDRESS = ""
    with django_capture_on_commit_callbacks(execute=True):
        person = make_customer(email=EMAIL, full_name=NAME, phone=PHONE)
        proof = Reauthentication(actor_id=person.pk, at=time.time())
        user_update_profile(
            user=person, actor=person, reauth=proof, phone="+86 139 1306 4410", notify_sms=True
        )
        client.post(reverse("accounts:login"), {"email": EMAIL, "password": "wrong password"})
        client.post(reverse("accounts:password_reset"), {"email": EMAIL})
        ticket_open(
            actor=person,
            organisation=person.organisation,
            requester=person,
            subject="Seam porosity",
            body="Pores since this morning.",
        )
        user_update_profile(user=person, actor=person, reauth=proof, email=NEW_EMAIL)
    dump = every_text_cell()
    assert "accounts_user" in dump  # the walk saw the tables
    secrets = [EMAIL, NEW_EMAIL, "liu.fang", "fang.liu", PHONE, "139 1306 4410", "刘芳", "Liu Fang"]
    leaks = {(table, s) for table, text in dump.items() for s in secrets if s in text}
    assert leaks == set()


def test_the_encryption_index_and_secret_keys_must_all_differ(settings):
    assert check_keys() == []
    encryption = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.BLIND_INDEX_KEY = encryption
    assert "welddesk.E003" in [e.id for e in check_keys()]
    settings.BLIND_INDEX_KEY = "another-index-key-0123456789"
    settings.SECRET_KEY = encryption
    assert "welddesk.E004" in [e.id for e in check_keys()]
    settings.SECRET_KEY = settings.BLIND_INDEX_KEY
    assert "welddesk.E004" in [e.id for e in check_keys()]
