"""Encryption at rest, strict decryption, blind indexes and the key checks."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import connection

from accounts.models import Organisation, User
from core import crypto
from core.checks import check_keys
from core.crypto import DecryptionError
from core.startup import verify_encryption_keys

pytestmark = pytest.mark.django_db


def raw_row(table: str, pk: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 - fixed names
        names = [col[0] for col in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_user_and_organisation_personal_data_is_ciphertext_in_the_database(make_customer, make_org):
    org = make_org(
        "苏州恒锐精密焊接有限公司",
        contact_name="王建国",
        contact_email="wang@hengrui.example",
        contact_phone="+86 138 0512 6621",
        address="江苏省苏州市工业园区星湖街328号",
    )
    user = make_customer(
        org, email="Liu.Fang@Hengrui.example", full_name="刘芳", phone="139 1306 4410"
    )

    user_row = raw_row("accounts_user", user.pk)
    text = " ".join(str(v) for v in user_row.values())
    for secret in ("liu.fang@hengrui.example", "Liu.Fang", "刘芳", "13913064410", "139 1306 4410"):
        assert secret not in text
    assert user_row["email"].startswith("gAAAA")  # a Fernet token

    org_row = raw_row("accounts_organisation", org.pk)
    org_text = " ".join(str(v) for v in org_row.values())
    for secret in ("王建国", "wang@hengrui.example", "0512", "星湖街"):
        assert secret not in org_text

    again = User.objects.get(pk=user.pk)
    assert (again.email, again.full_name, again.phone) == (
        "liu.fang@hengrui.example",
        "刘芳",
        "139 1306 4410",
    )
    assert Organisation.objects.get(pk=org.pk).address == "江苏省苏州市工业园区星湖街328号"


def test_a_wrong_key_raises_instead_of_returning_ciphertext(make_customer, settings):
    user = make_customer(full_name="赵磊")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError, match="accounts_user"):
        User.objects.get(pk=user.pk)


def test_the_wrapped_package_field_alone_would_return_ciphertext():
    """Documents why the wrapper exists: the package swallows InvalidToken."""
    import encrypted_model_fields.fields as emf

    foreign = Fernet(Fernet.generate_key()).encrypt(b"secret").decode()
    assert emf.EncryptedCharField(max_length=10).to_python(foreign) == foreign


def test_equality_lookups_on_encrypted_columns_are_refused():
    with pytest.raises(FieldError, match="blind index"):
        list(User.objects.filter(email="a@b.example"))
    assert list(User.objects.filter(phone__isnull=True)) == []


@pytest.mark.parametrize(
    ("typed", "stored"),
    [(" Foo@X.com ", "foo@x.com"), ("ＦＯＯ@x.com", "foo@x.com"), ("FOO@X.COM", "foo@x.com")],
)
def test_blind_index_normalises_email(typed, stored):
    assert crypto.blind_index("email", typed) == crypto.blind_index("email", stored)


@pytest.mark.parametrize(
    "typed",
    ["+86 138 0013 8000", "13800138000", "138-0013-8000", "0086 138 0013 8000", "(138) 0013 8000"],
)
def test_blind_index_normalises_mainland_phone_numbers(typed):
    assert crypto.normalise_phone(typed) == "+8613800138000"


def test_lookup_by_email_goes_through_the_blind_index(make_customer):
    user = make_customer(email="foo@x.com")
    assert User.objects.get_by_natural_key(" Foo@X.com ") == user
    assert user.email_bidx == crypto.blind_index("email", "foo@x.com")
    assert len(user.email_bidx) == 64


def test_blind_index_depends_on_its_own_key(settings):
    before = crypto.blind_index("email", "foo@x.com")
    settings.BLIND_INDEX_KEY = "another-index-key"
    assert crypto.blind_index("email", "foo@x.com") != before


def test_blind_indexes_keep_the_values_stored_in_the_database(settings):
    """The keyed-hash helper must not change a blind index already stored: rows would no
    longer be found by e-mail or phone."""
    settings.BLIND_INDEX_KEY = "k" * 32
    assert crypto.blind_index("email", " Wang@Hengrui.example") == (
        "62cbf438ba7be907b04934231b1f6942b17c3eed898f2923ef6e548c261e5dd4"
    )
    assert crypto.blind_index("phone", "138 0512 6621") == (
        "ef964c85147a0f700e8105ba4b4326536b65d19f5ab894535f390951d5a713d8"
    )


def test_keyed_hashes_of_two_purposes_never_coincide(settings):
    """One helper, one domain per purpose: the sign-in counters' keys are keyed hashes of
    their own purpose, unrelated to a blind index of the same words."""
    from accounts import lockout

    key = lockout._key(lockout.NETWORK, " Foo@X.com", "10.1.2.0/24")
    assert key == crypto.keyed_hash("login", "network", "foo@x.com", "10.1.2.0/24")
    assert crypto.keyed_hash("email", "foo@x.com") == crypto.blind_index("email", "foo@x.com")
    assert crypto.keyed_hash("login", "foo@x.com") != crypto.keyed_hash("email", "foo@x.com")
    # Parts are kept apart: ("a", "b") is not ("a\x00b",), which is refused anyway.
    with pytest.raises(ValueError):
        crypto.keyed_hash("login", "a\x00b")
    with pytest.raises(ValueError):
        crypto.keyed_hash("email:x", "y")  # not a registered purpose


def test_only_core_crypto_hashes_with_the_blind_index_key():
    """Every HMAC under BLIND_INDEX_KEY goes through core.crypto.keyed_hash (one rule, one
    home); the settings and the key checks are the only other readers of the key."""
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    allowed = {"core/crypto.py", "core/checks.py", "servicedesk/settings.py", "bench/loadgen.py"}
    readers = set()
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in SKIPPED]
        for name in files:
            path = Path(folder, name)
            if name.endswith(".py") and "BLIND_INDEX_KEY" in path.read_text(encoding="utf-8"):
                readers.add(path.relative_to(root).as_posix())
    assert readers and readers <= allowed, sorted(readers - allowed)


SKIPPED = {"tests", "var", "node_modules", "locale", "static", "staticfiles", "__pycache__"}


def test_key_check_refuses_shared_keys(settings):
    assert check_keys() == []
    settings.BLIND_INDEX_KEY = settings.FIELD_ENCRYPTION_KEYS[0]
    assert [e.id for e in check_keys()] == ["welddesk.E003"]
    settings.BLIND_INDEX_KEY = settings.SECRET_KEY
    assert "welddesk.E004" in [e.id for e in check_keys()]


def test_key_check_reports_a_malformed_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    assert [e.id for e in check_keys()] == ["welddesk.E001"]


def test_startup_check_creates_then_verifies_the_canary(settings):
    assert verify_encryption_keys() == "created"
    assert verify_encryption_keys() == "ok"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="canary"):
        verify_encryption_keys()


def test_new_key_first_old_key_still_decrypts(settings, make_customer):
    old_user = make_customer(full_name="老用户")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    new_user = make_customer(full_name="新用户")
    assert User.objects.get(pk=old_user.pk).full_name == "老用户"
    token = raw_row("accounts_user", new_user.pk)["full_name"]
    assert crypto.is_primary(token)
    assert not crypto.is_primary(raw_row("accounts_user", old_user.pk)["full_name"])
