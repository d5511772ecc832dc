"""REST API authentication by per-organisation API key, its scope check and throttling."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from core import softcache

KEYWORD = "Api-Key"
logger = logging.getLogger(__name__)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key wdk_<prefix>_<secret>`; no header means "try the next method"."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _sep, token = header.partition(" ")
        if keyword != KEYWORD:
            return None
        # Imported here: DRF loads this class while core.errors is still importing DRF.
        from accounts.services.api_keys import ApiPrincipal, api_key_authenticate

        key = api_key_authenticate(token.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(_("The API key is not valid or was revoked."))
        return ApiPrincipal(key), key

    def authenticate_header(self, request):
        return KEYWORD


READ_ONLY = _("This API key may only read. Ask a supervisor for a read-write key.")
ALARMS_ONLY = _("This API key may only post machine alarms.")
NOT_ALARMS = _("Machine alarms need a key with the alarms scope. Ask a supervisor for one.")


class ApiKeyScope(permissions.BasePermission):
    """A read-only key may only read; an alarms key may only post alarms, and only it may.

    A view that takes alarms says so with `api_scope = "alarms"`. The alarms key is the one a
    machine's gateway holds at a customer's site: kept apart, it can neither read the
    organisation's tickets nor write anything but alarms if it leaks."""

    message = READ_ONLY

    def has_permission(self, request, view):
        from accounts.models import ApiScope

        key = getattr(request.user, "api_key", None)
        if getattr(view, "api_scope", None) == ApiScope.ALARMS:
            if request.method != "POST":
                return True  # the view answers 405 to whoever asks
            self.message = NOT_ALARMS  # a person signed in is refused too: machines only
            return key is not None and key.scope == ApiScope.ALARMS
        if key is None:
            return True
        if key.scope == ApiScope.ALARMS:
            self.message = ALARMS_ONLY
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        self.message = READ_ONLY
        return key.can_write


class PerCallerThrottle(throttling.BaseThrottle):
    """A fixed one-minute window per API key (or per signed-in user), counted in the cache.

    One cache round trip per request (a pipelined INCR and EXPIRE NX on Redis,
    core.softcache.count) instead of DRF's history list; the answer
    to a throttled request is 429 with Retry-After set to the seconds left in the window.
    """

    window = 60

    def _identity(self, request) -> tuple[str, int]:
        key = getattr(request.user, "api_key", None)
        if key is not None:
            return f"key:{key.pk}", settings.API_KEY_RATE_PER_MINUTE
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}", settings.API_USER_RATE_PER_MINUTE
        return f"ip:{self.get_ident(request)}", settings.API_USER_RATE_PER_MINUTE

    def allow_request(self, request, view) -> bool:
        ident, limit = self._identity(request)
        now = time.time()
        window_start = int(now // self.window) * self.window
        cache_key = f"throttle:{ident}:{window_start}"
        count = softcache.count(cache_key, seconds=self.window + 5)
        if count is None:  # a cache outage must not take the API down
            return True
        self._wait = max(1, int(window_start + self.window - now) + 1)
        return count <= limit

    def wait(self) -> float:
        return getattr(self, "_wait", self.window)


def audit_api_key_use(request, response) -> None:
    """Audit a use of an API key (called by ApiKeyAuditMiddleware after every request).

    A successful write is audited by the service it called, with the key as the actor
    (`api_key:<id>`); every other use (reads, refused or replayed writes) is audited here.
    """
    key = getattr(getattr(request, "user", None), "api_key", None)
    if key is None:
        return
    write_done = (
        request.method not in permissions.SAFE_METHODS
        and response.status_code < 300
        and not response.has_header("Idempotent-Replayed")
    )
    if write_done:
        return
    from audit.services import audit_record

    match = getattr(request, "resolver_match", None)
    audit_record(
        action="api_key.used",
        actor=request.user,
        target=key,
        data={
            "method": request.method,
            "route": "/" + (match.route if match else ""),
            "status": response.status_code,
        },
        outcome=_outcome(response.status_code),
    )


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    return "denied" if status in (401, 403, 404) else "failure"


class ApiKeySchema(OpenApiAuthenticationExtension):
    """Describe the API key scheme in the OpenAPI schema."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": str(
                _(
                    "`Api-Key wdk_<prefix>_<secret>`: a key of your organisation, created by a "
                    "WeldDesk supervisor and shown once."
                )
            ),
        }
