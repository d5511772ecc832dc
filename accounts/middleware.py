"""Session policy for staff, the second-factor gate, API-key and refusal audit, preferences."""

from __future__ import annotations

import time
import zoneinfo
from urllib.parse import quote

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone as dj_timezone
from django.utils import translation
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware as BaseOTPMiddleware

from accounts.backends import session_device
from accounts.services import auth as auth_services
from core.errors import error_body

OPS_PREFIXES = ("/healthz", "/readyz", "/metrics", "/static/")


def is_api(request) -> bool:
    return request.path_info.startswith("/api/")


class SessionPolicyMiddleware:
    """End a staff session after STAFF_SESSION_IDLE_SECONDS idle or STAFF_SESSION_MAX_SECONDS."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(OPS_PREFIXES):
            return self.get_response(request)
        user = request.user
        if user.is_authenticated and user.is_staff:
            refusal = self._enforce(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def _enforce(self, request):
        reason = auth_services.staff_session_check(
            request.session, now=int(time.time()), active=True
        )
        if reason is None:
            return None
        if reason == "max_age":
            text = _("Your session reached its 12-hour limit. Please sign in again.")
        else:
            text = _("You were signed out after 30 minutes without activity.")
        auth_services.session_expired_record(request=request, reason=reason)
        if is_api(request):
            return JsonResponse(error_body(code="session_expired", message=text), status=401)
        messages.info(request, text)
        return redirect(f"{reverse('accounts:login')}?next={quote(request.get_full_path())}")


class SecondFactorMiddleware:
    """Staff (and customers who enrolled a device) must pass a second factor first."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._exempt: tuple[str, ...] | None = None

    def exempt_paths(self) -> tuple[str, ...]:
        if self._exempt is None:
            self._exempt = (
                *OPS_PREFIXES,
                reverse("accounts:login"),
                reverse("accounts:logout"),
                reverse("accounts:otp_setup"),
                reverse("accounts:otp_verify"),
                # A new single sign-on (perhaps with the provider's second factor this time).
                reverse("accounts:oidc_authenticate"),
                reverse("accounts:oidc_callback"),
                reverse("admin-logout"),
                reverse("set_language"),
            )
        return self._exempt

    def __call__(self, request):
        if request.path_info.startswith(self.exempt_paths()):
            return self.get_response(request)
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return self.get_response(request)
        if not (user.is_staff or request.session.get(auth_services.SESSION_NEEDS_OTP)):
            return self.get_response(request)
        if is_api(request):
            return JsonResponse(
                error_body(
                    code="otp_required", message=_("Two-factor authentication is required.")
                ),
                status=403,
            )
        from accounts.services.otp import has_confirmed_totp

        target = "accounts:otp_verify" if has_confirmed_totp(user) else "accounts:otp_setup"
        return redirect(f"{reverse(target)}?next={quote(request.get_full_path())}")


class ApiKeyAuditMiddleware:
    """Write the audit row of every API-key request once its response is known."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        from accounts.api_auth import audit_api_key_use

        audit_api_key_use(request, response)
        return response


class RefusalAuditMiddleware:
    """Note every 403 answer, whoever gave it (accounts.permissions.refusal_noted): audited one
    by one for a person or an API key, at a bounded rate for anonymous callers.

    It sits right after authentication, outside the second-factor gate and the views, so the
    refusals of DRF, of Django's PermissionDenied, of the CSRF check and of the gate itself
    all pass through it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 403:
            from accounts.permissions import refusal_noted

            refusal_noted(request=request, response=response)
        return response


class UserPreferencesMiddleware:
    """Speak the signed-in user's language and show times in their time zone.

    Anonymous visitors keep what LocaleMiddleware chose (the language cookie, else the
    browser's Accept-Language) and the desk's default time zone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user.language and translation.check_for_language(user.language):
                translation.activate(user.language)
                request.LANGUAGE_CODE = translation.get_language()
            try:
                dj_timezone.activate(zoneinfo.ZoneInfo(user.timezone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                dj_timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            dj_timezone.deactivate()


class OTPMiddleware(BaseOTPMiddleware):
    """django-otp's middleware, with the session's device loaded in the user's own query.

    django-otp loads the user, then the device the session was verified with: two round
    trips on every staff request. Here the device's id is handed to the auth backend while
    the user loads (accounts.backends.session_device), which brings user and device in one
    query; django-otp's checks (the device is the user's, and confirmed) run unchanged on the
    result, and any other device falls back to django-otp's own lookup.
    """

    def _verify_user_sync(self, request, user):
        persistent_id = request.session.get(DEVICE_ID_SESSION_KEY)
        hint = self._normalize_persistent_id(persistent_id) if persistent_id else None
        token = session_device.set(hint)
        try:
            self._init_user_fields(user)  # loads the user (the lazy object) with the hint
        finally:
            session_device.reset(token)
        if user.is_authenticated:
            device = None
            if hint:
                device = getattr(user, "_session_device", None)
                if device is None or device.persistent_id != hint:
                    device = self._device_from_persistent_id(hint)
            user.otp_device = self._finalize_device(request, user, device)
        return user
