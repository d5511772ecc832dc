"""Users: create, update contact data, change access (staff flags, roles, regions), passwords."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from accounts import hooks, sessions
from accounts import roles as role_defs
from accounts.models import (
    Language,
    Organisation,
    ProviderSecondFactor,
    Region,
    User,
    UserSession,
)
from accounts.services.platforms import platform_identities_erase
from accounts.services.reauth import Reauthentication, reauth_required
from audit.services import audit_record
from core import crypto, privacy, search_terms, throttle
from core.errors import ApplicationError
from core.net import public_http_url
from core.realtime import publish_on_commit


def _check_email(email: str, *, exclude_pk: int | None = None) -> str:
    email = crypto.normalise_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ApplicationError(
            _("Enter a valid email address."), fields={"email": exc.messages}
        ) from exc
    taken = User.objects.filter(email_bidx=crypto.blind_index("email", email))
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ApplicationError(
            _("A user with this email address already exists."),
            code="duplicate",
            fields={"email": [_("Already in use.")]},
        )
    return email


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ApplicationError(
            _("Choose a stronger password."),
            code="weak_password",
            fields={"password": exc.messages},
        ) from exc


@transaction.atomic
def user_create(
    *,
    email: str,
    full_name: str = "",
    password: str | None = None,
    organisation: Organisation | None = None,
    phone: str = "",
    language: str = "",
    timezone: str = "Asia/Shanghai",
    is_staff: bool = False,
    is_superuser: bool = False,
    roles: Iterable[str] = (),
    regions: Iterable[Region] = (),
    actor: Any = None,
    check_password: bool = True,
) -> User:
    """Create a user; customers need an organisation, staff must not have one."""
    email = _check_email(email)
    if not full_name.strip():
        raise ApplicationError(
            _("Enter the person's full name."), fields={"full_name": [_("This field is required.")]}
        )
    if is_staff and organisation is not None:
        raise ApplicationError(_("Staff members do not belong to a customer organisation."))
    if not is_staff and organisation is None:
        raise ApplicationError(
            _("A customer user needs an organisation."),
            fields={"organisation": [_("This field is required.")]},
        )
    user = User(
        email=email,
        full_name=full_name.strip(),
        phone=phone.strip(),
        organisation=organisation,
        language=language,
        timezone=timezone,
        is_staff=is_staff or is_superuser,
        is_superuser=is_superuser,
    )
    if password:
        if check_password:
            _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    role_list = sorted(set(roles))
    unknown = set(role_list) - set(role_defs.ROLES)
    if unknown:
        raise ApplicationError(_("Unknown role: %(role)s") % {"role": ", ".join(sorted(unknown))})
    if role_list:
        user.groups.set(Group.objects.filter(name__in=role_list))
    region_list = list(regions)
    if region_list:
        user.regions.set(region_list)
    audit_record(
        action="user.created",
        actor=actor,
        target=user,
        changes={
            "email": None,
            "full_name": None,
            "phone": None,
            "organisation": organisation.pk if organisation else None,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "language": language,
        },
        data={"roles": role_list, "regions": [r.code for r in region_list]},
    )
    return user


# Who controls these controls the account (reset links, codes): changing them needs re-auth.
IDENTITY_FIELDS = ("email", "phone")

PROFILE_FIELDS = (
    "full_name",
    "email",
    "phone",
    "language",
    "timezone",
    "notify_email",
    "notify_sms",
    "notify_wecom",
    "wecom_id",
    "notify_webhook_url",
)


def _check_preferences(user: User, changed: Iterable[str]) -> None:
    """Refuse a language or time zone we do not know, and channels without an address.

    Only what this change touches is checked, so switching the language never fails on an
    older inconsistency (say, a phone number removed by the desk while SMS was on).
    """
    changed = set(changed)
    fields: dict[str, list[str]] = {}
    if "language" in changed and user.language not in dict(Language.choices):
        fields["language"] = [_("Choose English or Simplified Chinese.")]
    if "timezone" in changed:
        try:
            zoneinfo.ZoneInfo(user.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            fields["timezone"] = [_("Choose a time zone such as Asia/Shanghai.")]
    if changed & {"notify_sms", "phone"} and user.notify_sms and not user.phone:
        fields["phone"] = [_("Enter a mobile number to receive SMS.")]
    if changed & {"notify_wecom", "wecom_id"} and user.notify_wecom and not user.wecom_id:
        fields["wecom_id"] = [_("Enter your WeCom user ID to receive WeCom messages.")]
    if "notify_webhook_url" in changed and user.notify_webhook_url:
        problem = public_http_url(user.notify_webhook_url)
        if problem:
            fields["notify_webhook_url"] = [
                _("WeldDesk cannot call this address (%(why)s).") % {"why": problem}
            ]
    if fields:
        raise ApplicationError(_("Please correct the highlighted fields."), fields=fields)


@transaction.atomic
def user_update_profile(
    *, user: User, actor: Any, reauth: Reauthentication | None = None, **changes: Any
) -> User:
    """Change contact data and preferences; unknown field names are refused.

    A new e-mail address or phone number needs the acting person's fresh re-authentication
    (`reauth`, from accounts.services.reauth.reauthenticate): 403 without it.
    """
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ApplicationError(
            _("These fields cannot be changed here: %(f)s") % {"f": ", ".join(sorted(unknown))}
        )
    user = User.objects.select_for_update().get(pk=user.pk)
    changed = {}
    for name, value in changes.items():
        if name == "email":
            value = _check_email(value, exclude_pk=user.pk)
        elif isinstance(value, str):
            value = value.strip()
        if getattr(user, name) != value:
            setattr(user, name, value)
            changed[name] = value
    if not changed:
        return user
    if changed.keys() & set(IDENTITY_FIELDS):
        reauth_required(actor=actor, reauth=reauth)
    if "full_name" in changed and not user.full_name:
        raise ApplicationError(
            _("Enter the person's full name."), fields={"full_name": [_("This field is required.")]}
        )
    _check_preferences(user, changed)
    update_fields = list(changed)
    update_fields += [f"{n}_bidx" for n in ("email", "phone") if n in changed]
    user.save(update_fields=update_fields)
    if changed.keys() & {"full_name", "email"}:
        # Their tickets are found by name and e-mail (tickets' search index).
        search_terms.changed("accounts.User", [user.pk])
    audit_record(action="user.profile_changed", actor=actor, target=user, changes=changed)
    return user


# The actor of changes the identity provider decides (accounts.services.oidc).
PROVIDER_ACTOR = "identity_provider"


@transaction.atomic
def user_set_access(
    *,
    user: User,
    actor: Any,
    is_active: bool | None = None,
    is_staff: bool | None = None,
    is_superuser: bool | None = None,
    roles: Iterable[str] | None = None,
    regions: Iterable[Region] | None = None,
) -> User:
    """Change what a user may do; every change of flags, roles or regions is audited."""
    user = User.objects.select_for_update().get(pk=user.pk)
    changed: dict[str, Any] = {}
    for name, value in (
        ("is_active", is_active),
        ("is_staff", is_staff),
        ("is_superuser", is_superuser),
    ):
        if value is not None and getattr(user, name) != value:
            setattr(user, name, value)
            changed[name] = value
    # The mark "deactivated by the identity provider" (which a later single sign-on may lift)
    # goes with any other change of is_active: a person's decision, either way, replaces it.
    changed_extra = []
    if (
        "is_active" in changed
        and user.oidc_deprovisioned_at is not None
        and (actor != PROVIDER_ACTOR or changed["is_active"])
    ):
        user.oidc_deprovisioned_at = None
        changed_extra = ["oidc_deprovisioned_at"]
    if user.is_superuser and not user.is_staff:
        user.is_staff = True
        changed["is_staff"] = True
    if user.is_staff and user.organisation_id:
        raise ApplicationError(_("Staff members do not belong to a customer organisation."))
    if changed:
        user.save(update_fields=[*changed, *changed_extra])
    data: dict[str, Any] = {}
    if roles is not None:
        wanted = sorted(set(roles))
        unknown = set(wanted) - set(role_defs.ROLES)
        if unknown:
            raise ApplicationError(
                _("Unknown role: %(role)s") % {"role": ", ".join(sorted(unknown))}
            )
        before = sorted(user.groups.filter(name__in=role_defs.ROLES).values_list("name", flat=True))
        if before != wanted:
            others = list(user.groups.exclude(name__in=role_defs.ROLES))
            user.groups.set([*others, *Group.objects.filter(name__in=wanted)])
            changed["roles"] = wanted
            data["roles"], data["roles_before"] = wanted, before
    if regions is not None:
        wanted_regions = sorted({r.code for r in regions})
        before_regions = sorted(user.regions.values_list("code", flat=True))
        if before_regions != wanted_regions:
            user.regions.set(list(regions))
            changed["regions"] = wanted_regions
            data["regions"], data["regions_before"] = wanted_regions, before_regions
    if changed:
        audit_record(
            action="user.access_changed", actor=actor, target=user, changes=changed, data=data
        )
        if changed.get("is_active") is False:
            _end_sessions(user)
    return user


def _end_sessions(user: User, *, keep_session_key: str | None = None) -> int:
    """Delete the user's server-side sessions and close their WebSockets."""
    from django.contrib.sessions.models import Session

    keys = list(
        UserSession.objects.filter(user=user)
        .exclude(session_key=keep_session_key or "")
        .values_list("session_key", flat=True)
    )
    ended, _ = Session.objects.filter(session_key__in=keys).delete()
    sessions.forget(keys)  # now, and again once committed (a read in between cached the row)
    transaction.on_commit(lambda: sessions.forget(keys))
    UserSession.objects.filter(session_key__in=keys).delete()
    publish_on_commit(
        f"user.{user.pk}", {"type": "session.revoked", "keep": keep_session_key or ""}
    )
    return ended


@transaction.atomic
def user_change_password(
    *, user: User, new_password: str, actor: Any, keep_session_key: str | None = None
) -> User:
    """Set a new password, end the user's other sessions and tell them by email."""
    _check_password(new_password, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    ended = _end_sessions(user, keep_session_key=keep_session_key)
    audit_record(
        action="user.password_changed",
        actor=actor,
        target=user,
        changes=["password"],
        data={"sessions_ended": ended},
    )
    hooks.password_changed(user=user)
    return user


ORG_INDEXES = ["contact_email_bidx", "contact_phone_bidx"]


@transaction.atomic
def user_erase(*, user: User, actor: Any) -> dict[str, int]:
    """Replace a person's identity by a pseudonym and end their access; the account row stays
    (tickets, machine history and the audit chain refer to it)."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    # Throttle counters are keyed by the blind index, never the address: drop the person's.
    throttle.forget("pwreset:mail:" + locked.email_bidx)
    # Every field the registry lists for an account, by its rule (core/privacy.py).
    privacy.erase(
        locked,
        {"email": f"erased-{locked.pk}@erased.invalid", "full_name": f"Erased person {locked.pk}"},
    )
    locked.notify_email = locked.notify_sms = locked.notify_wecom = False
    locked.is_active = False
    locked.set_unusable_password()
    locked.save()
    sessions = _end_sessions(locked)
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.filter(user=locked).delete()
    StaticDevice.objects.filter(user=locked).delete()
    ProviderSecondFactor.objects.filter(user=locked).delete()
    organisations = 0
    org = locked.organisation
    if org is not None and org.contact_email_bidx == user.email_bidx and user.email_bidx:
        contact = Organisation.objects.select_for_update().get(pk=org.pk)
        contact.save(update_fields=privacy.erase(contact, {}) + ORG_INDEXES)
        organisations = 1
    identities = platform_identities_erase(user=locked)
    audit_record(action="user.erased", actor=actor, target=locked)
    user.refresh_from_db()
    return {
        "accounts": 1,
        "sessions": sessions,
        "organisation_contacts": organisations,
        "platform_identities": identities,
    }
