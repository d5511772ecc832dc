"""Re-authentication before a person's e-mail, phone or authenticator changes (checklist 10).

A stolen session must not be enough to take an account over: whoever controls the e-mail
address receives the password-reset links, the phone receives codes and callbacks, and the
authenticator is the second factor. So the services that change them refuse unless the actor
has just given their password again and, when they have a second factor, a current code, in
the same form: `reauthenticate` checks both and returns the proof the services ask for. Staff
changing someone else in the admin are asked for their own password and code.

Password guesses here count against the sign-in lock (accounts/lockout.py); wrong codes
throttle the device as at sign-in. Every attempt is audited.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts import lockout
from accounts.models import User
from audit.services import audit_record
from core.errors import Forbidden
from core.net import client_ip

FRESH_SECONDS = 300  # a proof is good for this one change, made right after it was given
PASSWORD_FIELD, CODE_FIELD = "reauth_password", "reauth_code"


@dataclass(frozen=True)
class Reauthentication:
    """Proof that `actor_id` gave their password (and code) again at `at` (epoch seconds)."""

    actor_id: int
    at: float


def _refuse(actor: User, reason: str, message, field: str) -> Forbidden:
    with transaction.atomic():
        audit_record(
            action="auth.reauth_failed",
            actor=actor,
            target=actor,
            outcome="failure",
            data={"reason": reason},
        )
    return Forbidden(message, code="reauth_failed", fields={field: [message]})


def reauthenticate(*, request, actor: User, password: str | None, code: str | None = None):
    """Check the actor's password and, if they have an authenticator, a current code.

    Return a Reauthentication; raise Forbidden (403) naming the field that was wrong. Nothing
    else is written on failure but the audit row and the counters of the lock and throttle.
    """
    # otp.py asks this module for proofs; import its checks here, not at the top (a cycle).
    from accounts.services.otp import code_check, has_confirmed_totp

    if not password:  # nothing typed: refused and audited, but not counted as a guess
        raise _refuse(
            actor, "missing", _("Enter your password to confirm this change."), PASSWORD_FIELD
        )
    attempt = lockout.attempt_begin(
        login=actor.email, network=lockout.client_network(client_ip(request.META))
    )
    if attempt.refused:
        raise _refuse(
            actor,
            "locked",
            _("Too many wrong passwords. Wait 15 minutes and try again."),
            PASSWORD_FIELD,
        )
    if not actor.check_password(password):
        raise _refuse(
            actor,
            "password",
            _("Your password was not correct; nothing was changed."),
            PASSWORD_FIELD,
        )
    lockout.attempt_succeeded(attempt)
    if has_confirmed_totp(actor):
        with transaction.atomic():
            device, _method, throttled = code_check(user=actor, token=code or "")
        if device is None:
            if throttled:
                message = _("Too many wrong codes. Wait a moment and try again.")
            else:
                message = _("The code from your authenticator app was not correct.")
            raise _refuse(actor, "throttled" if throttled else "code", message, CODE_FIELD)
    with transaction.atomic():
        audit_record(action="auth.reauthenticated", actor=actor, target=actor)
    return Reauthentication(actor_id=actor.pk, at=time.time())


def reauthenticated_by_provider(*, request, actor: User) -> Reauthentication | None:
    """A single sign-on in the last FRESH_SECONDS stands for the password of an account that has
    no desk password to give again (created by single sign-on): the provider has just checked
    the person. None otherwise; the proof expires FRESH_SECONDS after that sign-in.
    """
    from accounts.services.auth import SESSION_PROVIDER

    signed_in_at = (request.session.get(SESSION_PROVIDER) or {}).get("auth_at")
    if actor.has_usable_password() or not signed_in_at:
        return None
    if time.time() - signed_in_at > FRESH_SECONDS:
        return None
    with transaction.atomic():
        audit_record(
            action="auth.reauthenticated", actor=actor, target=actor, data={"method": "oidc"}
        )
    return Reauthentication(actor_id=actor.pk, at=float(signed_in_at))


def reauth_required(*, actor: Any, reauth: Reauthentication | None) -> None:
    """Refuse (403) a change of identity data by a person who has not just re-authenticated.

    The desk itself (no actor: commands, erasure, tests of other services) needs no proof; a
    person always does, whatever their role; any other actor (an API key) is refused.
    """
    if actor is None:
        return  # the desk itself: a command, the erasure of an account
    if not isinstance(actor, User):  # an API key, a machine: never a person's identity
        raise Forbidden(
            _("Only the person, or staff who confirm it is them, may change this."),
            code="reauth_required",
        )
    fresh = reauth is not None and time.time() - reauth.at <= FRESH_SECONDS
    if not (fresh and reauth.actor_id == actor.pk):
        from accounts.services.otp import has_confirmed_totp

        if has_confirmed_totp(actor):
            message = _("Enter your password and your authenticator code to confirm this change.")
        else:
            message = _("Enter your password to confirm this change.")
        raise Forbidden(message, code="reauth_required", fields={PASSWORD_FIELD: [message]})
