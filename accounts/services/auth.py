"""Sign-in, sign-out and session expiry, each audited; the password check equalises timing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts import lockout
from accounts.models import User, UserSession
from audit.services import audit_record
from core import crypto
from core.net import client_ip

SESSION_AUTH_AT = "wd_auth_at"
SESSION_SEEN_AT = "wd_seen_at"
SESSION_NEEDS_OTP = "wd_needs_otp"
# A single sign-on's tokens and check times (accounts/oidc.py); a password sign-in drops it.
SESSION_PROVIDER = "wd_oidc"

MESSAGES = {
    # One message for an unknown email, a wrong password and an inactive account.
    "invalid": _("The email address or password is not correct."),
    "locked": _(
        "Too many failed sign-ins for this email address. Wait 15 minutes and try again, "
        "or reset your password."
    ),
}


class LoginRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
        self.message = MESSAGES[reason]


def _user_id_for(login_name: str) -> int | None:
    return (
        User.objects.filter(email_bidx=crypto.blind_index("email", login_name))
        .values_list("pk", flat=True)
        .first()
    )


def remember_session(request, user: User, *, previous_key: str | None = None) -> None:
    """Record the session key so that all of a user's sessions can be ended later."""
    if not request.session.session_key:
        request.session.save()
    if previous_key:
        UserSession.objects.filter(session_key=previous_key).delete()
    UserSession.objects.update_or_create(
        session_key=request.session.session_key, defaults={"user": user}
    )


def _audit_refusal(login_name: str, reason: str, *, locks: list[str] = ()) -> None:
    uid = _user_id_for(login_name)
    target = {"target_type": "accounts.user" if uid else "", "target_id": uid or ""}
    with transaction.atomic():
        audit_record(
            action="auth.login_failed",
            actor="anonymous",
            outcome="failure",
            data={"reason": reason},
            **target,
        )
        for scope in locks:
            audit_record(
                action="auth.locked",
                actor="system",
                data={"minutes": settings.LOGIN_LOCKOUT_SECONDS // 60, "scope": scope},
                **target,
            )


def login_attempt(*, request, email: str, password: str) -> User:
    """Check the credentials and sign the user in; raise LoginRefused with a safe message.

    The attempt is counted before the password is checked (accounts/lockout.py), so parallel
    guesses cannot slip past the lock.
    """
    login_name = crypto.normalise_email(email)[:254]
    attempt = lockout.attempt_begin(
        login=login_name, network=lockout.client_network(client_ip(request.META))
    )
    if attempt.refused:
        _audit_refusal(login_name, "locked")
        raise LoginRefused("locked")
    user = authenticate(request, username=login_name, password=password)
    if user is None:
        _audit_refusal(login_name, "bad_credentials", locks=attempt.locks)
        raise LoginRefused("locked" if attempt.locks_me else "invalid")
    with transaction.atomic():
        lockout.attempt_succeeded(attempt)
        login(request, user)
        request.session.pop(SESSION_PROVIDER, None)
        now = int(timezone.now().timestamp())
        request.session[SESSION_AUTH_AT] = now
        request.session[SESSION_SEEN_AT] = now
        request.session[SESSION_NEEDS_OTP] = needs_second_factor(user)
        remember_session(request, user)
        audit_record(action="auth.login", actor=user, target=user)
        if not user.language:
            # No preference yet: keep the language this browser asks for.
            user.language = translation.get_language_from_request(request)
            user.save(update_fields=["language"])
    return user


def password_reset_completed(*, request, user: User) -> None:
    """The reset link proved the owner: lift the sign-in locks of the account and treat the
    network the link was opened from as known (a stranger cannot keep the owner locked out)."""
    lockout.network_proven(
        login=user.email, network=lockout.client_network(client_ip(request.META))
    )


def needs_second_factor(user: Any) -> bool:
    """Staff always; customers once they have enrolled a device."""
    if user.is_staff:
        return True
    from django_otp import user_has_device

    return user_has_device(user, confirmed=True)


def logout_record(*, request) -> None:
    """Sign out: audit, forget the session row and delete the session on the server."""
    user = request.user
    with transaction.atomic():
        if user.is_authenticated:
            audit_record(action="auth.logout", actor=user, target=user)
            if request.session.session_key:
                UserSession.objects.filter(session_key=request.session.session_key).delete()
        logout(request)


def staff_session_check(session: Any, *, now: int, active: bool) -> str | None:
    """Apply the staff session limits: return "max_age" or "idle" once one has passed.

    The one rule for pages, the API and WebSockets (accounts/middleware.py,
    accounts/sockets.py). A session without stamps (signed in before they existed) is stamped
    now. `active`: this request or frame is the person acting, which counts as activity
    (written at most once a minute).
    """
    auth_at = session.get(SESSION_AUTH_AT)
    seen_at = session.get(SESSION_SEEN_AT)
    if auth_at is None or seen_at is None:
        session[SESSION_AUTH_AT] = auth_at or now
        session[SESSION_SEEN_AT] = now
        return None
    if now - auth_at > settings.STAFF_SESSION_MAX_SECONDS:
        return "max_age"
    if now - seen_at > settings.STAFF_SESSION_IDLE_SECONDS:
        return "idle"
    if active and now - seen_at >= 60:
        session[SESSION_SEEN_AT] = now
    return None


def staff_session_ends_at(session: Any) -> int | None:
    """When a stamped staff session passes its next limit, in seconds since the epoch."""
    auth_at = session.get(SESSION_AUTH_AT)
    seen_at = session.get(SESSION_SEEN_AT)
    if auth_at is None or seen_at is None:
        return None
    return min(
        auth_at + settings.STAFF_SESSION_MAX_SECONDS, seen_at + settings.STAFF_SESSION_IDLE_SECONDS
    )


def session_expired_record(*, reason: str, request=None, user=None, session=None) -> None:
    """End a staff session that was idle too long or reached its maximum age.

    From a page (`request`: signed out as usual) or from a WebSocket (`user` and `session`:
    the stored session is deleted).
    """
    if request is not None:
        user, session = request.user, request.session
    with transaction.atomic():
        audit_record(
            action="auth.session_expired", actor="system", target=user, data={"reason": reason}
        )
        if session.session_key:
            UserSession.objects.filter(session_key=session.session_key).delete()
        if request is not None:
            logout(request)
        else:
            session.delete()
