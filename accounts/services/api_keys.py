"""API keys for partner systems: create (the token is shown once), authenticate, revoke."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiKey, ApiScope, Organisation
from audit.services import audit_record
from core import softcache
from core.errors import ApplicationError

TOKEN_PREFIX = "wdk_"  # noqa: S105 - a public marker, not a secret
# Touch last_used_at at most this often, so a busy key does not write on every request.
LAST_USED_RESOLUTION_S = 60
# A key's row is kept in the shared cache this long, so a request spends no statement on it.
# A revocation (or a change of the organisation) deletes the entry at once: the cache is the
# one every process reads, so the next request in any process reads the row again.
KEY_CACHE_SECONDS = 10
# The organisation's columns a key's caller reads (no contact data in the cache).
ORGANISATION_COLUMNS = (
    "id",
    "code",
    "name",
    "name_en",
    "tier",
    "region",
    "is_active",
    "priority_service_until",
    "created_at",
    "updated_at",
)


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
    forget_keys([prefix])  # an earlier miss on this prefix may be cached
    return key, f"{TOKEN_PREFIX}{prefix}_{secret}"


def _cache_key(prefix: str) -> str:
    return f"api-key:{prefix}"


def _shared_cache() -> bool:
    """Whether the cache is one for every process (Redis): only then may keys be cached, since
    a revocation must reach every process (a per-process cache would keep a revoked key)."""
    return "locmem" not in settings.CACHES["default"]["BACKEND"].lower()


def forget_keys(prefixes: list[str]) -> None:
    """Drop cached keys now and after the current transaction commits (a request that read
    the old row between the two would otherwise cache it again)."""
    if not _shared_cache():
        return

    def drop() -> None:
        for prefix in prefixes:
            softcache.delete(_cache_key(prefix))

    drop()
    transaction.on_commit(drop)


def forget_organisation_keys(organisation: Organisation) -> None:
    """Drop the cached keys of an organisation whose row changed (deactivated, say)."""
    forget_keys_of_organisations([organisation.pk])


def forget_keys_of_organisations(organisation_ids: list[int]) -> None:
    """Drop the cached keys of organisations whose rows changed (one query for all)."""
    if organisation_ids:
        forget_keys(
            list(
                ApiKey.objects.filter(organisation_id__in=organisation_ids).values_list(
                    "prefix", flat=True
                )
            )
        )


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Any) -> ApiKey:
    """Revoke a key at once; it can never be used again, in any process."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(action="api_key.revoked", actor=actor, target=key)
    forget_keys([key.prefix])
    return key


def _load(prefix: str) -> ApiKey | None:
    """The active key of a prefix with its organisation: the shared cache, else one query."""
    shared = _shared_cache()
    if shared:
        try:
            cached = cache.get(_cache_key(prefix), softcache.MISSING)
        except Exception:
            cached = softcache.MISSING  # a cache outage: read the database
        if cached is not softcache.MISSING:
            return cached
    key = (
        ApiKey.objects.select_related("organisation")
        .only(*KEY_COLUMNS, *(f"organisation__{c}" for c in ORGANISATION_COLUMNS))
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if shared:
        # An unknown prefix is cached too (as None), so a flood of made-up tokens costs the
        # database nothing; a key created later under that prefix is a 1 in 2^48 event.
        softcache.set(_cache_key(prefix), key, KEY_CACHE_SECONDS)
    return key


KEY_COLUMNS = (
    "id",
    "organisation",
    "name",
    "prefix",
    "secret_hash",
    "scope",
    "created_at",
    "last_used_at",
    "revoked_at",
)


def api_key_authenticate(token: str) -> ApiKey | None:
    """Return the active key for a token, or None (unknown, malformed, wrong secret, revoked)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not secret or len(prefix) != 12 or len(secret) > 100:
        return None
    key = _load(prefix)
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
        if _shared_cache():
            softcache.set(_cache_key(prefix), key, KEY_CACHE_SECONDS)
    return key
