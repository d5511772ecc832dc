"""Staff single sign-on with OpenID Connect, on mozilla-django-oidc (docs/security.md).

The library does the protocol: the authorization request with `state`, `nonce` and a PKCE
verifier kept in the session, the code exchange, the ID token's signature against the
provider's JWKS and its nonce. This module adds what the desk needs around it:

* settings from the environment, off by default, with the endpoints read from the issuer's
  discovery document when they are not set (fetched once per process, on first use: nothing
  here calls the network while Django builds its backends, which it does for every
  permission check);
* the checks the library leaves out: the ID token's issuer and audience, a token that fails
  any check (expired, wrong key) is a refusal and never a 500;
* the desk's rules, applied by accounts.services.oidc: staff only, matched by `sub` or the
  e-mail's blind index, groups mapped to roles and regions, the provider's second factor
  trusted only when its `amr`/`acr` says so;
* `ProviderSessionMiddleware`, which asks the provider again at `OIDC_RECHECK_SECONDS` whether
  the account still exists, and deactivates it when the provider says it is gone.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.backends import ModelBackend
from django.core.checks import Error, Tags, register
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.generic import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from accounts import roles
from accounts.backends import RequestUserMixin
from accounts.forms import LoginForm
from accounts.services import oidc as oidc_services
from accounts.services.oidc import SESSION_PROVIDER, ProviderRefused
from core import crypto
from core.errors import ApplicationError

log = logging.getLogger(__name__)

DISCOVERY_KEYS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_discovered: dict[str, dict[str, Any]] = {}
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class ProviderUnavailable(Exception):
    """The provider did not answer, or answered with a server error."""


def _timeout() -> float:
    return settings.OIDC_TIMEOUT


def discovery() -> dict[str, Any]:
    """The issuer's discovery document (cached per process); {} without an issuer."""
    issuer = settings.OIDC_OP_ISSUER
    if not issuer:
        return {}
    document = _discovered.get(issuer)
    if document is None:
        try:
            response = requests.get(
                f"{issuer}/.well-known/openid-configuration", timeout=_timeout()
            )
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"discovery failed: {type(exc).__name__}") from exc
        if str(document.get("issuer", "")).rstrip("/") != issuer:
            # A document for another issuer would let that issuer's tokens in.
            raise ProviderUnavailable("discovery document names another issuer")
        _discovered[issuer] = document
    return document


def forget_discovery() -> None:
    """Tests and a changed issuer: read the discovery document again."""
    _discovered.clear()


def endpoint(name: str) -> str:
    """A provider endpoint: the setting if given, else the discovery document's."""
    value = getattr(settings, name, "")
    if value:
        return value
    found = discovery().get(DISCOVERY_KEYS[name], "")
    if not found:
        raise ProviderUnavailable(f"the provider names no {DISCOVERY_KEYS[name]}")
    return found


def _settings(attr: str, *args: Any) -> Any:
    if attr in DISCOVERY_KEYS:
        return endpoint(attr)
    return import_from_settings(attr, *args)


def _client_auth() -> dict[str, str]:
    return {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "client_secret": settings.OIDC_RP_CLIENT_SECRET,
    }


def _seal(token: str | None) -> str:
    """Tokens rest in the (database) session encrypted with a key derived from SECRET_KEY."""
    if not token:
        return ""
    return crypto.derived_crypter("oidc-session").encrypt(token.encode()).decode()


def _unseal(sealed: str | None) -> str:
    if not sealed:
        return ""
    try:
        return crypto.derived_crypter("oidc-session").decrypt(sealed.encode()).decode()
    except Exception:  # a rotated SECRET_KEY: as if there were no token
        return ""


def identity_from(claims: dict[str, Any]) -> oidc_services.ProviderIdentity:
    """Map the provider's claims (ID token and userinfo) to desk terms."""
    groups = claims.get(settings.OIDC_GROUP_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    groups = tuple(g for g in groups if isinstance(g, str))
    role_set, region_codes = oidc_services.map_groups(
        groups, role_map=settings.OIDC_ROLE_MAP, region_map=settings.OIDC_REGION_MAP
    )
    email = claims.get("email")
    verified = claims.get("email_verified")
    name = claims.get("name") or " ".join(
        str(claims.get(k, "")) for k in ("given_name", "family_name") if claims.get(k)
    )
    return oidc_services.ProviderIdentity(
        subject=str(claims.get("sub", "")),
        email=email if isinstance(email, str) else "",
        email_verified=verified if isinstance(verified, bool) else None,
        full_name=str(name or "")[:200],
        roles=role_set,
        region_codes=region_codes,
        groups=groups,
    )


class ProviderBackend(RequestUserMixin, OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with the desk's account rules (accounts.services.oidc)."""

    get_settings = staticmethod(_settings)
    # The library's get_user would return a deactivated account; RequestUserMixin's checks
    # is_active (and loads the user's access in one query, like EmailBackend).

    def __init__(self, *args, **kwargs):
        # Not the library's __init__: it reads the endpoints, which may need the discovery
        # document, and Django builds every backend for each permission check.
        ModelBackend.__init__(self, *args, **kwargs)
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        # Only the callback view calls with a nonce; a password sign-in that fell through
        # EmailBackend must never start a code exchange from its query string.
        if request is None or "nonce" not in kwargs or "password" in kwargs:
            return None
        if not settings.OIDC_ENABLED:
            return None
        self.OIDC_OP_TOKEN_ENDPOINT = endpoint("OIDC_OP_TOKEN_ENDPOINT")
        self.OIDC_OP_USER_ENDPOINT = endpoint("OIDC_OP_USER_ENDPOINT")
        self.OIDC_OP_JWKS_ENDPOINT = endpoint("OIDC_OP_JWKS_ENDPOINT")
        self.token_info: dict[str, Any] = {}
        return super().authenticate(request, **kwargs)

    def get_token(self, payload):
        try:
            self.token_info = super().get_token(payload)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 502
            if 400 <= status < 500:  # a code already used, expired or not ours
                raise SuspiciousOperation("the token endpoint refused the code") from exc
            raise ProviderUnavailable(f"token endpoint answered {status}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"token endpoint: {type(exc).__name__}") from exc
        return self.token_info

    def retrieve_matching_jwk(self, token):
        try:
            return super().retrieve_matching_jwk(token)
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"JWKS: {type(exc).__name__}") from exc
        except (KeyError, jwt.PyJWKError) as exc:
            raise SuspiciousOperation("no usable signing key") from exc

    def verify_token(self, token, **kwargs):
        """The library checks the signature, `exp` and the nonce; the issuer and the audience
        are checked here (an ID token minted for another client must not sign anyone in)."""
        if not token:
            raise SuspiciousOperation("no ID token")
        try:
            payload = super().verify_token(token, **kwargs)
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"ID token refused: {type(exc).__name__}") from exc
        issuer = settings.OIDC_OP_ISSUER or str(discovery().get("issuer", ""))
        if issuer and str(payload.get("iss", "")).rstrip("/") != issuer.rstrip("/"):
            raise SuspiciousOperation("ID token from another issuer")
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token for another client")
        if len(audiences) > 1 and payload.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("ID token authorised for another party")
        if not payload.get("sub") or "exp" not in payload:
            raise SuspiciousOperation("ID token without sub or exp")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        try:
            return super().get_userinfo(access_token, id_token, payload)
        except requests.HTTPError as exc:
            raise SuspiciousOperation("the userinfo endpoint refused the token") from exc
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(f"userinfo: {type(exc).__name__}") from exc

    def get_or_create_user(self, access_token, id_token, payload):
        """Apply the desk's rules; a refusal (ProviderRefused) is audited and propagates to
        the callback view, which shows its message (the library would swallow it)."""
        user_info = self.get_userinfo(access_token, id_token, payload)
        if not isinstance(user_info, dict) or user_info.get("sub") != payload.get("sub"):
            # OpenID Connect Core 5.3.2: the userinfo answer must be about the same subject.
            oidc_services.refusal_record(reason="subject_mismatch")
            raise ProviderRefused("failed")
        # Groups and the e-mail from either; `amr`/`acr` only from the signed ID token.
        claims = {**payload, **{k: v for k, v in user_info.items() if v is not None}}
        user = oidc_services.provider_account(identity=identity_from(claims))
        expires_in = self.token_info.get("expires_in")
        self.request.oidc_sign_in = {
            "second_factor": oidc_services.trusted_second_factor(
                payload, amr=settings.OIDC_TRUSTED_AMR, acr=settings.OIDC_TRUSTED_ACR
            ),
            "session": {
                "sub": str(payload["sub"]),
                "access": _seal(access_token),
                "refresh": _seal(self.token_info.get("refresh_token")),
                "expires_at": int(time.time())
                + (int(expires_in) if isinstance(expires_in, int | float) else 300),
            },
        }
        return user


def button_context() -> dict[str, Any]:
    """What the sign-in page needs for its "Sign in with <provider>" button."""
    return {
        "oidc_enabled": settings.OIDC_ENABLED,
        "oidc_provider_name": settings.OIDC_PROVIDER_NAME,
    }


def _sign_in_page(request, message: str, *, status: int) -> HttpResponse:
    """The sign-in page again, with the reason single sign-on did not complete."""
    context = {"form": LoginForm(), "next": "", "sso_error": message, **button_context()}
    return render(request, "accounts/login.html", context, status=status)


def _enabled_only(request) -> None:
    if not settings.OIDC_ENABLED:
        raise Http404


@method_decorator(never_cache, name="dispatch")
class ProviderSignInView(OIDCAuthenticationRequestView):
    """Start a single sign-on: redirect to the provider (state, nonce, PKCE by the library)."""

    get_settings = staticmethod(_settings)

    def __init__(self, **kwargs):
        View.__init__(self, **kwargs)  # the endpoint is read per request (discovery may fail)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        _enabled_only(request)
        try:
            self.OIDC_OP_AUTH_ENDPOINT = endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailable as exc:
            log.warning("single sign-on: %s", exc)
            return _sign_in_page(
                request, oidc_services.MESSAGES["provider_unavailable"], status=502
            )
        return super().get(request)


@method_decorator(never_cache, name="dispatch")
class ProviderCallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer: the library checks state, exchanges the code and verifies the
    ID token; the desk signs the person in (or says why not)."""

    get_settings = staticmethod(_settings)

    def get(self, request):
        _enabled_only(request)
        try:
            return super().get(request)
        except ProviderRefused as refusal:  # audited where it was decided
            return _sign_in_page(request, refusal.message, status=403)
        except (ApplicationError, IntegrityError):
            # Two first sign-ins of one person at once: the other one created the account.
            oidc_services.refusal_record(reason="conflict")
            return _sign_in_page(request, oidc_services.MESSAGES["failed"], status=409)
        except ProviderUnavailable as exc:
            log.warning("single sign-on: %s", exc)
            oidc_services.refusal_record(reason="provider_unavailable")
            return _sign_in_page(
                request, oidc_services.MESSAGES["provider_unavailable"], status=502
            )
        except SuspiciousOperation as exc:
            # An unknown or replayed state, a bad code, a token that fails a check.
            log.warning("single sign-on refused: %s", exc)
            oidc_services.refusal_record(reason="invalid_response")
            return _sign_in_page(request, oidc_services.MESSAGES["failed"], status=400)

    def login_failure(self):
        error = self.request.GET.get("error", "")
        data = {"error": error if _ERROR_CODE.match(error) else "other"} if error else {}
        oidc_services.refusal_record(reason="provider_error" if error else "failed", data=data)
        return _sign_in_page(self.request, oidc_services.MESSAGES["failed"], status=400)

    def login_success(self):
        request = self.request
        sign_in = getattr(request, "oidc_sign_in", None) or {}
        next_url = request.session.pop("oidc_login_next", None) or reverse("admin:index")
        second_factor = sign_in.get("second_factor")
        oidc_services.provider_sign_in(
            request=request,
            user=self.user,
            second_factor=second_factor,
            provider_session=sign_in.get("session", {}),
        )
        if second_factor:
            return redirect(next_url)
        from accounts.services.otp import has_confirmed_totp

        target = "accounts:otp_verify" if has_confirmed_totp(self.user) else "accounts:otp_setup"
        return redirect(f"{reverse(target)}?next={quote(next_url)}")


# Asking the provider again -------------------------------------------------------------------


@dataclass
class Check:
    """What the provider said when asked again: "ok" (with its claims), "gone" (a live token
    refused or the user not found: deprovisioned), "grant_refused" (the refresh token was
    refused), "expired" (no refresh token to ask with) or "unreachable"."""

    verdict: str
    claims: dict[str, Any] | None = None
    state: dict[str, Any] | None = None


def _refresh(state: dict[str, Any]) -> Check | None:
    """Renew the access token with the refresh token; None when renewed (state updated)."""
    refresh_token = _unseal(state.get("refresh"))
    if not refresh_token:
        return Check("expired")
    try:
        response = requests.post(
            endpoint("OIDC_OP_TOKEN_ENDPOINT"),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token, **_client_auth()},
            timeout=_timeout(),
        )
    except (requests.RequestException, ProviderUnavailable):
        return Check("unreachable")
    if response.status_code in (400, 401):
        try:
            error = response.json().get("error")
        except ValueError:
            error = None
        if error == "invalid_grant":
            return Check("grant_refused")
    if response.status_code != 200:
        return Check("unreachable")
    try:
        info = response.json()
        state["access"] = _seal(info["access_token"])
    except (ValueError, KeyError, TypeError):
        return Check("unreachable")
    if info.get("refresh_token"):
        state["refresh"] = _seal(info["refresh_token"])
    expires_in = info.get("expires_in")
    state["expires_at"] = int(time.time()) + (
        int(expires_in) if isinstance(expires_in, int | float) else 300
    )
    return None


def provider_check(state: dict[str, Any]) -> Check:
    """Ask the provider whether the session's account still exists (its userinfo endpoint,
    with the stored access token, renewed first when it has expired)."""
    state = dict(state)
    # No readable access token (SECRET_KEY changed) is an expired one, never "refused".
    if state.get("expires_at", 0) <= time.time() + 10 or not _unseal(state.get("access")):
        refused = _refresh(state)
        if refused is not None:
            return refused
    try:
        response = requests.get(
            endpoint("OIDC_OP_USER_ENDPOINT"),
            headers={"Authorization": f"Bearer {_unseal(state.get('access'))}"},
            timeout=_timeout(),
        )
    except (requests.RequestException, ProviderUnavailable):
        return Check("unreachable")
    if response.status_code in (401, 404, 410):
        # A token the provider itself said is still valid is refused, or the user is not found.
        return Check("gone")
    if response.status_code != 200:
        return Check("unreachable")
    try:
        claims = response.json()
    except ValueError:
        return Check("unreachable")
    if not isinstance(claims, dict) or str(claims.get("sub")) != state.get("sub"):
        return Check("gone")
    return Check("ok", claims=claims, state=state)


class ProviderSessionMiddleware:
    """Every OIDC_RECHECK_SECONDS a single-sign-on session asks the provider about its account.

    The provider refuses the account (userinfo answers 401 to a live token, 404 or 410; the
    refresh token is refused with invalid_grant): the account is deactivated and all its
    sessions end (audited). A provider answers the same after a mere sign-out there, so a
    later single sign-on it accepts reactivates the account (accounts.services.oidc). No
    refresh token to renew an expired access token with: this session ends, the account stays.
    The provider answers: its groups are applied again when it sends the group claim (roles
    lost at the provider are lost here). The provider does not answer: the session goes on and
    is asked again next interval.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.OIDC_ENABLED and not request.path_info.startswith(("/healthz", "/static/")):
            state = request.session.get(SESSION_PROVIDER)
            if state and request.user.is_authenticated:
                refusal = self._recheck(request, state)
                if refusal is not None:
                    return refusal
        return self.get_response(request)

    def _recheck(self, request, state: dict[str, Any]):
        now = int(time.time())
        if now - int(state.get("checked", 0)) < settings.OIDC_RECHECK_SECONDS:
            return None
        check = provider_check(state)
        user = request.user
        if check.verdict == "unreachable":
            log.warning("single sign-on: the provider did not answer the session check")
            request.session[SESSION_PROVIDER] = {**state, "checked": now}
            return None
        if check.verdict == "ok":
            claims = check.claims or {}
            if settings.OIDC_GROUP_CLAIM in claims:
                try:
                    oidc_services.provider_account(identity=identity_from(claims))
                except ProviderRefused as refusal:
                    return self._end(request, refusal.reason)
            request.session[SESSION_PROVIDER] = {**(check.state or state), "checked": now}
            return None
        if check.verdict in ("gone", "grant_refused"):
            reason = "userinfo_refused" if check.verdict == "gone" else "refresh_refused"
            oidc_services.provider_deprovision(user=user, reason=reason)
            logout(request)
            return self._refused(
                request, _("The identity provider no longer accepts your account. Sign in again.")
            )
        return self._end(request, check.verdict)

    def _end(self, request, reason: str):
        oidc_services.provider_session_ended(request=request, reason=reason)
        return self._refused(
            request, _("Your single sign-on session has ended. Please sign in again.")
        )

    def _refused(self, request, text: str):
        from django.contrib import messages

        from accounts.middleware import is_api

        if is_api(request):
            from core.errors import error_body

            return JsonResponse(error_body(code="session_expired", message=text), status=401)
        messages.info(request, text)
        return redirect(f"{reverse('accounts:login')}?next={quote(request.get_full_path())}")


@register(Tags.security)
def check_settings(app_configs=None, **kwargs) -> list[Error]:
    """With single sign-on on, every role named in OIDC_ROLE_MAP must exist."""
    if not settings.OIDC_ENABLED:
        return []
    unknown = sorted({role for _group, role in settings.OIDC_ROLE_MAP} - set(roles.ROLES))
    if unknown:
        return [
            Error(
                f"OIDC_ROLE_MAP names roles the desk does not have: {', '.join(unknown)} "
                f"(roles: {', '.join(roles.ROLES)}).",
                id="welddesk.E020",
            )
        ]
    return []
