"""API keys for partner systems: create (the token is shown once), authenticate, revoke."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiKey, ApiScope, Organisation
from audit.services import audit_record
from core.errors import ApplicationError

TOKEN_PREFIX = "wdk_"  # noqa: S105 - a public marker, not a secret
# Touch last_used_at at most this often, so a busy key does not write on every request.
LAST_USED_RESOLUTION_S = 60


class ApiPrincipal:
    """The caller behind an API key: acts as a customer of the key's organisation."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, key: ApiKey) -> None:
        self.api_key = key
        self.organisation = key.organisation
        self.organisation_id = key.organisation_id
        self.audit_ref = f"api_key:{key.pk}"
        self.language = ""

    def __str__(self) -> str:
        return self.audit_ref

    def has_perm(self, *args: Any, **kwargs: Any) -> bool:
        return False


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *, actor: Any, organisation: Organisation, name: str, scope: str = ApiScope.READ
) -> tuple[ApiKey, str]:
    """Create a key and return it with its token; the token is not stored and not shown again."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError(
            _("Name the key after the system that will use it."),
            fields={"name": [_("This field is required.")]},
        )
    if scope not in ApiScope.values:
        raise ApplicationError(_("Choose a valid scope."), fields={"scope": [_("Unknown scope.")]})
    if not organisation.is_active:
        raise ApplicationError(_("This organisation's account is inactive."))
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        organisation=organisation,
        name=name[:100],
        prefix=prefix,
        secret_hash=_digest(secret),
        scope=scope,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        action="api_key.created",
        actor=actor,
        target=key,
        data={"organisation": organisation.pk, "scope": scope, "prefix": prefix},
    )
    return key, f"{TOKEN_PREFIX}{prefix}_{secret}"


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Any) -> ApiKey:
    """Revoke a key at once; it can never be used again."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(action="api_key.revoked", actor=actor, target=key)
    return key


def api_key_authenticate(token: str) -> ApiKey | None:
    """Return the active key for a token, or None (unknown, malformed, wrong secret, revoked)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not secret or len(prefix) != 12 or len(secret) > 100:
        return None
    key = (
        ApiKey.objects.select_related("organisation")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if key is None:
        # Spend the same time as a real comparison, so timing does not reveal prefixes.
        hmac.compare_digest(_digest(secret), "0" * 64)
        return None
    if not hmac.compare_digest(_digest(secret), key.secret_hash):
        return None
    if not key.organisation.is_active:
        return None
    now = timezone.now()
    stale = key.last_used_at is None or (now - key.last_used_at).total_seconds() > (
        LAST_USED_RESOLUTION_S
    )
    if stale:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
