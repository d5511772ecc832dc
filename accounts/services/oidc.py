"""Staff single sign-on: accounts found, created and kept in step with the identity provider.

The provider decides who a person is and which desk groups they are in; the desk decides what
that means. Only staff accounts are created or changed here (customers sign in with their
e-mail address and password). Every change goes through `user_create` and `user_set_access`,
so roles and regions given or taken by the provider reach the audit chain like an admin's
change, with the actor `identity_provider`. Every refusal is audited (`auth.oidc_refused`).
The protocol itself (tokens, signatures, state, nonce) is accounts/oidc.py's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_otp import login as otp_login

from accounts.models import ProviderSecondFactor, Region, User
from accounts.services import auth as auth_services
from accounts.services.users import PROVIDER_ACTOR, user_create, user_set_access
from audit.services import audit_record
from core import crypto

PROVIDER_FACTOR_NAME = "identity provider"
# What a single sign-on keeps in the session (accounts/oidc.py reads it to ask again).
SESSION_PROVIDER = auth_services.SESSION_PROVIDER

MESSAGES = {
    "customer": _(
        "This e-mail address belongs to a customer account. Customers sign in with their "
        "e-mail address and password, not with single sign-on."
    ),
    "no_group": _(
        "Your account at the identity provider is in no service-desk group, so it gives you "
        "no access here. Ask your administrator to add you to a desk group."
    ),
    "inactive": _("This staff account is deactivated. Ask a supervisor to reactivate it."),
    "no_email": _("The identity provider did not give a verified e-mail address."),
    "linked_elsewhere": _(
        "This staff account is linked to another identity at the provider. Ask a supervisor."
    ),
    "not_staff": _("This account is not a staff account. Ask a supervisor."),
    "failed": _("Single sign-on did not complete. Please try again."),
    "provider_unavailable": _(
        "The identity provider could not be reached. Try again, or sign in with your password."
    ),
}


class ProviderRefused(Exception):
    """A single sign-on the desk will not accept; `message` is safe to show."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
        self.message = MESSAGES[reason]


@dataclass(frozen=True)
class ProviderIdentity:
    """What the provider said about the person, already mapped to desk terms."""

    subject: str
    email: str
    email_verified: bool | None
    full_name: str
    roles: frozenset[str]
    # None: the provider does not manage regions (OIDC_REGION_MAP is empty).
    region_codes: frozenset[str] | None
    groups: tuple[str, ...] = field(default=())


def map_groups(
    groups: Iterable[str], *, role_map: Iterable[tuple[str, str]], region_map=()
) -> tuple[frozenset[str], frozenset[str] | None]:
    """Desk roles and region codes for the provider's groups (region codes None: unmanaged)."""
    groups = set(groups)
    roles = frozenset(role for group, role in role_map if group in groups)
    region_map = list(region_map)
    if not region_map:
        return roles, None
    return roles, frozenset(code for group, code in region_map if group in groups)


def refusal_record(*, reason: str, user: User | None = None, data: dict | None = None) -> None:
    """Audit a refused single sign-on (its own transaction: the refusal itself writes nothing)."""
    with transaction.atomic():
        audit_record(
            action="auth.oidc_refused",
            actor="anonymous" if user is None else PROVIDER_ACTOR,
            target=user,
            outcome="failure",
            data={"reason": reason, **(data or {})},
        )


def _find(identity: ProviderIdentity) -> tuple[User | None, str | None]:
    """The account of this identity and, if it must be refused, why (nothing is written)."""
    user = User.objects.filter(oidc_subject=identity.subject).first()
    if user is None:
        if not identity.email or identity.email_verified is False:
            return None, "no_email"
        # Never a lookup on the encrypted column: the blind index of the normalised address.
        user = User.objects.filter(email_bidx=crypto.blind_index("email", identity.email)).first()
        if user is not None and user.oidc_subject:
            return user, "linked_elsewhere"
    if user is None:
        return None, None if identity.roles else "no_group"
    if user.is_customer:
        return user, "customer"
    if not user.is_staff:
        return user, "not_staff"
    if not user.is_active and user.oidc_deprovisioned_at is None:
        return user, "inactive"  # deactivated by a person: only a person reactivates
    if not identity.roles:
        return user, "no_group"
    return user, None


def provider_account(*, identity: ProviderIdentity) -> User:
    """Find (by `sub`, else by the e-mail's blind index), create or update the staff account
    of a single sign-on and apply the provider's groups; raise ProviderRefused, audited.

    Roles and (when OIDC_REGION_MAP is set) regions become exactly what the groups give, so a
    group removed at the provider takes its role away at the next sign-in. A person in no
    mapped group is refused and nothing is changed: no access is granted by default.
    """
    user, refusal = _find(identity)
    if refusal is not None:
        refusal_record(reason=refusal, user=user, data={"groups": len(identity.groups)})
        raise ProviderRefused(refusal)
    regions = None
    if identity.region_codes is not None:
        regions = list(Region.objects.filter(code__in=identity.region_codes))
    with transaction.atomic():
        if user is None:
            user = user_create(
                email=identity.email,
                full_name=identity.full_name or identity.email.split("@", 1)[0],
                is_staff=True,
                roles=identity.roles,
                regions=regions or (),
                language=_language(),
                actor=PROVIDER_ACTOR,
            )
        else:
            # An account the provider had said was gone, and now vouches for again (a token
            # refused after a sign-out there looks the same), is active again: audited.
            user = user_set_access(
                user=user,
                actor=PROVIDER_ACTOR,
                is_active=True,
                roles=identity.roles,
                regions=regions,
            )
        if user.oidc_subject != identity.subject:
            User.objects.filter(pk=user.pk).update(oidc_subject=identity.subject)
            user.oidc_subject = identity.subject
            audit_record(action="user.provider_linked", actor=PROVIDER_ACTOR, target=user)
    return user


def _language() -> str:
    code = translation.get_language() or ""
    return code if code in ("en", "zh-hans") else ""


def trusted_second_factor(claims: dict, *, amr: Iterable[str], acr: Iterable[str]) -> str | None:
    """The ID token's method or level that counts as a second factor here, or None.

    `amr` must be a list of strings (RFC 8176) and `acr` a string; anything else is ignored.
    """
    methods = claims.get("amr")
    if isinstance(methods, list):
        for method in methods:
            if isinstance(method, str) and method in set(amr):
                return f"amr:{method}"
    level = claims.get("acr")
    if isinstance(level, str) and level and level in set(acr):
        return f"acr:{level}"
    return None


def provider_sign_in(
    *, request, user: User, second_factor: str | None, provider_session: dict
) -> None:
    """Sign the staff member in after the provider answered, as `login_attempt` does for a
    password: session stamps, session row, audit. When the provider asserted a trusted second
    factor (`second_factor`, e.g. "amr:mfa") the session is verified with it; otherwise the
    desk's own TOTP is still asked by SecondFactorMiddleware.
    """
    from django.contrib.auth import login

    with transaction.atomic():
        login(request, user, backend="accounts.oidc.ProviderBackend")
        now = int(time.time())
        request.session[auth_services.SESSION_AUTH_AT] = now
        request.session[auth_services.SESSION_SEEN_AT] = now
        request.session[auth_services.SESSION_NEEDS_OTP] = True
        request.session[SESSION_PROVIDER] = {**provider_session, "auth_at": now, "checked": now}
        if second_factor:
            device, _created = ProviderSecondFactor.objects.get_or_create(
                user=user, name=PROVIDER_FACTOR_NAME, defaults={"confirmed": True}
            )
            otp_login(request, device)
        auth_services.remember_session(request, user)
        audit_record(
            action="auth.login",
            actor=user,
            target=user,
            data={"method": "oidc", "second_factor": second_factor or "desk"},
        )


def provider_session_ended(*, request, reason: str) -> None:
    """End a single-sign-on session the provider no longer vouches for (the account stays)."""
    auth_services.session_expired_record(request=request, reason=f"provider_{reason}")


def provider_deprovision(*, user: User, reason: str) -> None:
    """The provider says the account is gone: deactivate it (which ends all its sessions and
    closes its sockets, user_set_access) and say why in the audit chain."""
    with transaction.atomic():
        audit_record(
            action="auth.oidc_deprovisioned",
            actor=PROVIDER_ACTOR,
            target=user,
            data={"reason": reason},
        )
        user_set_access(user=user, actor=PROVIDER_ACTOR, is_active=False)
        User.objects.filter(pk=user.pk).update(oidc_deprovisioned_at=timezone.now())
