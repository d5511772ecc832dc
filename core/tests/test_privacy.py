"""The registry of personal-data fields is complete and true to the models."""

from __future__ import annotations

import pytest
from django.apps import apps

from core import pii, privacy
from core.fields import encrypted_fields

# Not personal data, though encrypted: a fixed test value that proves the encryption keys work,
# and secrets.
NOT_PERSONAL = {
    ("core.EncryptionCanary", "value"),
    # An organisation's webhook signing secret: a key of its system, encrypted as a secret.
    ("notifications.WebhookEndpoint", "secret"),
}


def test_every_personal_field_is_registered():
    registered = privacy.registered()
    missing = [
        (model._meta.label, name)
        for model in apps.get_models()
        if not model._meta.proxy  # a proxy shares its concrete model's table and fields
        for name in pii.personal_fields(model)
        if (model._meta.label, name) not in registered
        and (model._meta.label, name) not in NOT_PERSONAL
    ]
    assert not missing, f"personal-data fields missing from core/privacy.py: {missing}"


def test_every_registered_field_exists_and_is_encrypted_unless_said_otherwise():
    for entry in privacy.REGISTRY:
        model = apps.get_model(entry.model)
        field = model._meta.get_field(entry.field)  # raises if the registry names a ghost
        encrypted = field in encrypted_fields(model) or getattr(field, "personal_data", False)
        assert encrypted == entry.encrypted, (entry.model, entry.field)
        assert entry.purpose and entry.retention and entry.erasure and entry.category


def test_erasure_and_export_follow_the_registry():
    from accounts.models import User

    user = User(email="a@b.example", full_name="A B", phone="123", wecom_id="w")
    user.notify_webhook_url = "https://hooks.example/x"
    with pytest.raises(KeyError):
        privacy.erase(user, {})  # a field to pseudonymise needs its pseudonym
    changed = privacy.erase(user, {"email": "x@erased.invalid", "full_name": "Erased"})
    listed = {
        f.field
        for f in privacy.fields_of("accounts.User")
        if not privacy.is_index(f.field) and f.erasure != privacy.KEEP
    }
    assert set(changed) == listed
    assert (user.email, user.full_name, user.phone, user.wecom_id) == (
        "x@erased.invalid",
        "Erased",
        "",
        "",
    )
    assert user.notify_webhook_url == ""
    exported = privacy.readable(User(email="c@d.example", full_name="C"))
    assert set(exported) == {
        f.field for f in privacy.fields_of("accounts.User") if not privacy.is_index(f.field)
    }
