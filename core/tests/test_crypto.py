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
