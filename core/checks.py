"""System checks for the key configuration (run by every manage.py command and check --deploy)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from core import crypto, malware


@register(Tags.security)
def check_keys(app_configs=None, **kwargs) -> list[Error]:
    errors: list[Error] = []
    try:
        crypto.crypter()
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), id="welddesk.E001"))
    keys = set(crypto._configured_keys()) if not errors else set()
    index_key = getattr(settings, "BLIND_INDEX_KEY", "")
    if not index_key:
        errors.append(Error("BLIND_INDEX_KEY is not set.", id="welddesk.E002"))
    elif index_key in keys:
        errors.append(
            Error(
                "BLIND_INDEX_KEY must differ from every FIELD_ENCRYPTION_KEYS key.",
                id="welddesk.E003",
            )
        )
    if settings.SECRET_KEY in keys or index_key == settings.SECRET_KEY:
        errors.append(
            Error(
                "SECRET_KEY must differ from the encryption and blind-index keys.",
                id="welddesk.E004",
            )
        )
    return errors


@register()
def check_clamd_address(app_configs=None, **kwargs) -> list[Error]:
    """CLAMD_ADDRESS must be an address clamd can be reached at (or off): a typo would hold
    every upload in quarantine forever, or fail every upload."""
    if not malware.scanning_enabled():
        return []
    try:
        malware.parse_address(settings.CLAMD_ADDRESS)
    except ValueError as exc:
        return [
            Error(
                str(exc),
                hint="e.g. CLAMD_ADDRESS=unix:///run/clamav/clamd.ctl or tcp://127.0.0.1:3310",
                id="welddesk.E005",
            )
        ]
    return []
