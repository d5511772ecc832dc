"""Checks a server process runs before it serves anything."""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from core.crypto import DecryptionError

log = logging.getLogger(__name__)


def verify_encryption_keys() -> str:
    """Decrypt the canary row; raise ImproperlyConfigured if the keys do not fit the data.

    A fresh database gets its canary here. A missing table (not yet migrated) is reported and
    left for `migrate`.
    """
    from core.models import CANARY_PLAINTEXT, EncryptionCanary

    try:
        canary = EncryptionCanary.objects.order_by("pk").first()
    except DecryptionError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS cannot decrypt the data in this database (the canary check "
            "failed). Start with the keys the data was written with; put a new key first to rotate."
        ) from exc
    except DatabaseError:
        return "skipped: database not migrated"
    if canary is None:
        EncryptionCanary.objects.create(value=CANARY_PLAINTEXT)
        return "created"
    if canary.value != CANARY_PLAINTEXT:
        raise ImproperlyConfigured("The encryption canary decrypted to an unexpected value.")
    return "ok"
