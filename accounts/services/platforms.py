"""Messaging platform identities (WeChat, WeCom): recorded when a person first writes.

A platform user is known by an id the platform gives them (an OpenID per official account, a
WeCom user id per corp), found again through its blind index. Binding an identity to a portal
account is issue 23 point 2 (its own service, audited); here it is recorded, its stand-in
contact set, and it goes with the person's erasure (accounts.services.users.user_erase).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext as _

from accounts.models import Platform, PlatformBindCode, PlatformIdentity, User
from audit.services import audit_record
from core import crypto, softcache
from core.errors import ApplicationError

MAX_ID = 128


def _clean_id(value: Any, what: str) -> str:
    value = crypto.normalise_platform_id(value) if isinstance(value, str) else ""
    if len(value) > MAX_ID or not value.isprintable() or any(c.isspace() for c in value):
        raise ApplicationError(_("The platform sent an unusable %(what)s.") % {"what": what})
    return value


@transaction.atomic
def platform_identity_seen(
    *, platform: str, app_id: str, external_id: Any, union_id: Any = "", now: dt.datetime
) -> PlatformIdentity:
    """The identity of a platform user who just wrote, created on their first message
    (audited, without the id), locked; its last message time and a UnionID the platform
    sends now are recorded. Two first messages at once find one row."""
    if platform not in Platform.values:
        raise ApplicationError(_("Unknown messaging platform."))
    external_id = _clean_id(external_id, "user id")
    if not external_id:
        raise ApplicationError(_("The platform sent a message without its sender."))
    union_id = _clean_id(union_id, "UnionID")
    lookup = {
        "platform": platform,
        "app_id": app_id,
        "external_id_bidx": crypto.blind_index("platform-id", external_id),
    }
    new = PlatformIdentity(
        platform=platform,
        app_id=app_id,
        external_id=external_id,
        union_id=union_id,
        first_seen_at=now,
        last_message_at=now,
    )
    identity = PlatformIdentity.objects.select_for_update().filter(**lookup).first()
    if identity is None:
        try:
            with transaction.atomic():  # a savepoint: the same first message twice at once
                new.save(force_insert=True)
        except IntegrityError:
            identity = PlatformIdentity.objects.select_for_update().get(**lookup)
        else:
            audit_record(
                action="platform.identity_created",
                actor=f"system:{platform}",
                target=new,
                data={"platform": platform, "app": app_id},
            )
            return new
    changed = ["last_message_at"]
    identity.last_message_at = max(identity.last_message_at or now, now)
    if union_id and identity.union_id_bidx != crypto.blind_index("platform-id", union_id):
        identity.union_id = union_id
        changed += ["union_id", "union_id_bidx"]
    identity.save(update_fields=changed)
    return identity


def platform_identity_set_contact(*, identity: PlatformIdentity, contact: User) -> None:
    """File an unbound identity's messages under this stand-in contact from now on."""
    identity.contact = contact
    identity.save(update_fields=["contact"])


@transaction.atomic
def platform_identity_bind(*, identity: PlatformIdentity, user: User, actor: Any) -> None:
    """Bind an identity to a customer's portal account (audited, without the id): their
    messages then reach their own chats and tickets. The proof that the person holds both
    (a signed one-time link or QR code) is the caller's (issue 23, point 2)."""
    if user.is_staff or user.organisation_id is None or not user.is_active:
        raise ApplicationError(_("Only an active customer account can be linked."))
    locked = PlatformIdentity.objects.select_for_update().get(pk=identity.pk)
    if locked.user_id not in (None, user.pk):
        raise ApplicationError(_("This account of the platform is linked to someone else."))
    previous = locked.user_id
    locked.user, locked.bound_at = user, dj_timezone.now()
    locked.save(update_fields=["user", "bound_at"])
    identity.user, identity.bound_at = locked.user, locked.bound_at
    if previous is None:
        audit_record(
            action="platform.identity_bound",
            actor=actor,
            target=user,
            data={"identity": locked.pk, "platform": locked.platform},
        )


@transaction.atomic
def platform_identity_unbind(*, identity: PlatformIdentity, actor: Any) -> None:
    """Undo a binding (audited): the identity's messages are again an unbound sender's."""
    locked = PlatformIdentity.objects.select_for_update().get(pk=identity.pk)
    if locked.user_id is None:
        return
    user_id = locked.user_id
    locked.user, locked.bound_at = None, None
    locked.save(update_fields=["user", "bound_at"])
    identity.user, identity.bound_at = None, None
    audit_record(
        action="platform.identity_unbound",
        actor=actor,
        target_type="accounts.user",
        target_id=str(user_id),
        data={"identity": locked.pk, "platform": locked.platform},
    )


def platform_identities_erase(*, user: User) -> int:
    """Erasure: the identities bound to the person or standing in for them are deleted (the
    ids go; what they wrote is erased with their chats and tickets). Returns how many."""
    rows = PlatformIdentity.objects.filter(user=user) | PlatformIdentity.objects.filter(
        contact=user
    )
    deleted, _by_model = rows.delete()
    PlatformBindCode.objects.filter(user=user).delete()
    return deleted


# ------------------------------------------------------------------- linking codes (point 2)

BIND_CODE_MINUTES = 15
# Eight characters of 32 (40 bits), without 0/O and 1/I, shown as XXXX-XXXX.
BIND_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# A message that is a linking code: the code, optionally after 绑定 / bind / link.
BIND_MESSAGE = re.compile(
    r"^\s*(?:绑定|綁定|bind|link)?\s*[:：]?\s*([A-Za-z0-9]{4})[\s-]?([A-Za-z0-9]{4})\s*$",
    re.IGNORECASE,
)
# Wrong codes one platform account may try in an hour (40 bits: guessing is hopeless anyway).
BIND_TRIES_PER_HOUR = 10


def bind_code_in(text: str) -> str | None:
    """The linking code a message consists of ("绑定 K7P9-3QXA", "k7p93qxa"), or None."""
    found = BIND_MESSAGE.match(text or "")
    return (found.group(1) + found.group(2)).upper() if found else None


def _code_hash(code: str) -> str:
    return crypto.keyed_hash("bind-code", code)


@transaction.atomic
def platform_bind_code_create(*, user: User, now: dt.datetime | None = None) -> str:
    """A new linking code for a customer (shown once, as XXXX-XXXX); an earlier unused one
    stops working. Audited without the code."""
    if user.is_staff or user.organisation_id is None or not user.is_active:
        raise ApplicationError(_("Only an active customer account can be linked."))
    now = now or dj_timezone.now()
    PlatformBindCode.objects.filter(user=user, used_at__isnull=True).delete()
    code = "".join(secrets.choice(BIND_ALPHABET) for _n in range(8))
    PlatformBindCode.objects.create(
        user=user,
        code_hash=_code_hash(code),
        created_at=now,
        expires_at=now + dt.timedelta(minutes=BIND_CODE_MINUTES),
    )
    audit_record(action="platform.bind_code_created", actor=user, target=user)
    return f"{code[:4]}-{code[4:]}"


@transaction.atomic
def platform_bind_code_redeem(
    *, identity: PlatformIdentity, code: str, now: dt.datetime | None = None
) -> User:
    """Bind the identity that sent a linking code to the account that made it (audited by
    the binding); refused (ApplicationError) for a code that is unknown, used or expired, and
    after BIND_TRIES_PER_HOUR wrong ones from one platform account."""
    now = now or dj_timezone.now()
    tries = f"platform:bind-tries:{identity.pk}:{int(time.time() // 3600)}"
    row = (
        PlatformBindCode.objects.select_for_update()
        .select_related("user")
        .filter(code_hash=_code_hash(code), used_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if row is None or (softcache.get(tries) or 0) >= BIND_TRIES_PER_HOUR:
        softcache.count(tries, seconds=3600)
        raise ApplicationError(
            _("This linking code is not valid or has expired."), code="bad_bind_code"
        )
    platform_identity_bind(identity=identity, user=row.user, actor=f"system:{identity.platform}")
    row.used_at, row.identity = now, identity
    row.save(update_fields=["used_at", "identity"])
    return row.user
