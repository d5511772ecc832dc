"""Reads of the notifications app for other apps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from accounts import selectors as account_selectors
from notifications.models import Channel, Outbox, PushSubscription

OUTBOX_CHUNK = 2000


def person_notifications(user: Any) -> list[dict[str, Any]]:
    """What was sent to the person's addresses, browsers and webhook. Recipients are encrypted
    without an index, so the outbox (kept 90 days) is read in chunks and compared after
    decryption."""
    mine = person_addresses(user)
    found = []
    rows = Outbox.objects.order_by("pk").only(
        "recipient", "channel", "subject", "body", "created_at", "status"
    )
    for row in rows.iterator(chunk_size=OUTBOX_CHUNK):
        if (row.channel, (row.recipient or "").lower()) in mine:
            found.append(
                {
                    "channel": row.channel,
                    "at": row.created_at,
                    "status": row.status,
                    "subject": row.subject,
                    "body": row.body,
                }
            )
    return found


def person_addresses(user: Any) -> set[tuple[str, str]]:
    """(channel, recipient) of every outbox row that went to the person: their e-mail, phone
    and WeCom ID, their browsers (a push row names the subscription), their webhook and the
    WeChat and WeCom ids they wrote from (answers sent there)."""
    found = {
        (channel, address.lower())
        for channel, address in (
            (Channel.EMAIL, user.email),
            (Channel.SMS, user.phone),
            (Channel.WECOM, user.wecom_id),
            (Channel.WEBHOOK, getattr(user, "notify_webhook_url", "")),
        )
        if address
    }
    pushes = PushSubscription.objects.filter(user=user).values_list("pk", flat=True)
    platforms = {
        (Channel.WECHAT if identity["platform"] == "wechat" else Channel.WECOM, identity["user_id"])
        for identity in account_selectors.person_platform_identities(user)
    }
    return (
        found
        | {(Channel.PUSH, str(pk)) for pk in pushes}
        | {(channel, address.lower()) for channel, address in platforms if address}
    )


def person_push(user: Any) -> list[dict[str, Any]]:
    """When the person turned browser notifications on (no keys or endpoints)."""
    return [{"since": p.created_at} for p in PushSubscription.objects.filter(user=user)]


def about_of_message_ids(message_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """What the e-mails the desk sent with these Message-IDs were about, as
    {message_id: (about_type, about_id)} (one query; unknown ids left out), so a customer's
    answer quoting one in In-Reply-To or References finds its ticket without another app
    reading the outbox."""
    ids = [m for m in dict.fromkeys(message_ids) if m]
    if not ids:
        return {}
    rows = Outbox.objects.filter(message_id__in=ids).exclude(about_type="")
    return {
        mid: (about_type, about_id)
        for mid, about_type, about_id in rows.values_list("message_id", "about_type", "about_id")
    }


def written_about(about: Any, *, key_prefix: str) -> list[tuple[str, Any]]:
    """The outbox rows about one object whose keys start with key_prefix, as
    [(key, created_at)] in the order written, so a drill can time a notice without another app
    reading the outbox."""
    rows = Outbox.objects.filter(
        about_type=about._meta.label_lower, about_id=str(about.pk), key__startswith=key_prefix
    )
    return list(rows.order_by("pk").values_list("key", "created_at"))
