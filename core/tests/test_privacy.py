"""The registry of personal-data fields is complete and true to the models."""

from __future__ import annotations

from django.apps import apps

from core import pii, privacy
from core.fields import encrypted_fields

# Not personal data: a fixed test value that proves the encryption keys work.
NOT_PERSONAL = {("core.EncryptionCanary", "value")}


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
