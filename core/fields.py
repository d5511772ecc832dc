"""Model fields for personal data: encrypted at rest, strict on read, with blind indexes.

The classes wrap django-encrypted-model-fields. Its own fields return the ciphertext when no
key fits and use a key list fixed at import; these read the keys from settings each time and
raise DecryptionError instead. Lookups other than isnull are refused: ciphertext is random, so
an equality lookup could never match. Use the blind index instead.
"""

from __future__ import annotations

import encrypted_model_fields.fields as emf
from django.core.exceptions import FieldError
from django.db import models

from core import crypto


class StrictEncryptedMixin:
    """Encrypt with the first configured key; raise when no configured key decrypts."""

    personal_data = True

    def to_python(self, value):
        # Form and deserialisation input is plaintext: never try to decrypt it here.
        return super(emf.EncryptedMixin, self).to_python(value)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        where = f"{self.model._meta.db_table}.{self.column}"
        return super(emf.EncryptedMixin, self).to_python(crypto.decrypt(value, where=where))

    def get_db_prep_save(self, value, connection):
        if hasattr(value, "resolve_expression"):
            # An expression (e.g. bulk_update's CASE): its Values are encrypted when compiled.
            # The wrapped package would encrypt the expression's repr here instead.
            return value
        value = super(emf.EncryptedMixin, self).get_db_prep_save(value, connection)
        if value is None:
            return None
        return crypto.encrypt(str(value))

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.model.__name__}.{self.name} is encrypted; '{lookup_name}' lookups cannot "
                "match ciphertext. Look it up through its blind index."
            )
        return super().get_lookup(lookup_name)


class EncryptedCharField(StrictEncryptedMixin, emf.EncryptedCharField):
    pass


class EncryptedTextField(StrictEncryptedMixin, emf.EncryptedTextField):
    pass


class EncryptedEmailField(StrictEncryptedMixin, emf.EncryptedEmailField):
    pass


class BlindIndexField(models.CharField):
    """HMAC of another field's normalised value, kept in step on every save."""

    personal_data = True

    def __init__(self, *args, source: str, kind: str, **kwargs):
        if kind not in crypto.NORMALISERS:
            raise ValueError(f"unknown blind index kind {kind!r}")
        self.source = source
        self.kind = kind
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs["kind"] = self.kind
        for key, default in (("max_length", 64), ("editable", False), ("db_index", True)):
            if kwargs.get(key, default) == default:
                kwargs.pop(key, None)
        if kwargs.get("blank") is True:
            kwargs.pop("blank")
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = crypto.blind_index(self.kind, getattr(model_instance, self.source) or "")
        setattr(model_instance, self.attname, value)
        return value


def encrypted_fields(model) -> list[models.Field]:
    """Return the concrete encrypted fields of a model."""
    return [f for f in model._meta.concrete_fields if isinstance(f, StrictEncryptedMixin)]
