"""Checks a server process runs before it serves anything."""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection

from core.crypto import DecryptionError

log = logging.getLogger(__name__)


class KeyCheckUnavailable(ImproperlyConfigured):
    """The keys could not be checked: the database did not answer.

    A process that cannot prove its keys fit must not start either: it would start unchecked
    and keep running once the database is back.
    """


def verify_encryption_keys() -> str:
    """Decrypt the canary row; raise ImproperlyConfigured if the keys do not fit the data.

    A fresh database gets its canary here. A database without the canary's table (not yet
    migrated) is reported and left for `migrate`; an unreachable one raises
    KeyCheckUnavailable.
    """
    from core.models import CANARY_PLAINTEXT, EncryptionCanary

    try:
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
    except DatabaseError as exc:
        raise KeyCheckUnavailable(
            "FIELD_ENCRYPTION_KEYS cannot be checked: the database did not answer "
            f"({type(exc).__name__}). Start the process again once the database is up."
        ) from exc
    if EncryptionCanary._meta.db_table not in tables:
        return "skipped: database not migrated"
    try:
        canary = EncryptionCanary.objects.order_by("pk").first()
    except DecryptionError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS cannot decrypt the data in this database (the canary check "
            "failed). Start with the keys the data was written with; put a new key first to rotate."
        ) from exc
    except DatabaseError as exc:
        raise KeyCheckUnavailable(
            "FIELD_ENCRYPTION_KEYS cannot be checked: reading the canary failed "
            f"({type(exc).__name__})."
        ) from exc
    if canary is None:
        EncryptionCanary.objects.create(value=CANARY_PLAINTEXT)
        return "created"
    if canary.value != CANARY_PLAINTEXT:
        raise ImproperlyConfigured("The encryption canary decrypted to an unexpected value.")
    return "ok"
