"""The key rotation drill: add a key, rotate, drop the old key, every row still reads."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from accounts.models import Organisation, User
from core import crypto
from core.fields import encrypted_fields
from core.models import EncryptionCanary
from core.startup import verify_encryption_keys

pytestmark = pytest.mark.django_db


def all_tokens() -> list[str]:
    tokens = []
    for model in (User, Organisation, EncryptionCanary):
        columns = [f.column for f in encrypted_fields(model)]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(columns)} FROM {model._meta.db_table}")  # noqa: S608
            tokens += [value for row in cursor.fetchall() for value in row if value is not None]
    return tokens


def run_rotate(*extra: str) -> str:
    out = StringIO()
    call_command(
        "rotate_keys", "--no-progress", "--batch-size=3", *extra, stdout=out, stderr=StringIO()
    )
    return out.getvalue()


def test_rotation_drill(settings, make_customer, make_org):
    verify_encryption_keys()
    org = make_org(contact_email="ops@factory.example", address="天津市北辰区")
    people = [make_customer(org, full_name=f"工程师{i}", phone=f"1380013800{i}") for i in range(7)]
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()

    # 1. New key first: new rows use it, old rows still decrypt.
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    late = make_customer(org, full_name="后来者")
    assert all(User.objects.get(pk=p.pk).full_name == p.full_name for p in people)
    assert not all(crypto.is_primary(t) for t in all_tokens())

    # 2. Rotate.
    report = run_rotate()
    assert "re-encrypted" in report
    assert all(crypto.is_primary(t) for t in all_tokens())

    # 3. Drop the old key: everything still reads.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert [User.objects.get(pk=p.pk).full_name for p in people] == [f"工程师{i}" for i in range(7)]
    assert User.objects.get(pk=late.pk).full_name == "后来者"
    assert Organisation.objects.get(pk=org.pk).contact_email == "ops@factory.example"
    assert verify_encryption_keys() == "ok"
    # Blind indexes did not change: lookups still work.
    assert User.objects.get_by_natural_key(people[3].email) == people[3]


def test_rotation_resumes_after_an_interruption(settings, make_customer, make_org):
    org = make_org()
    for i in range(8):
        make_customer(org, full_name=f"用户{i}")
    settings.FIELD_ENCRYPTION_KEYS = [
        Fernet.generate_key().decode(),
        *settings.FIELD_ENCRYPTION_KEYS,
    ]

    first = run_rotate("--max-batches=1")
    assert "stopped after the batch limit" in first
    assert not all(crypto.is_primary(t) for t in all_tokens())

    second = run_rotate()
    assert "done" in second
    assert all(crypto.is_primary(t) for t in all_tokens())
    # A third run finds nothing left to do.
    assert run_rotate().startswith("rotate_keys done: 0 rows re-encrypted")
