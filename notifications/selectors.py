"""Reads of the notifications app for other apps."""

from __future__ import annotations

from typing import Any

from notifications.models import Outbox, PushSubscription

OUTBOX_CHUNK = 2000


def person_notifications(user: Any) -> list[dict[str, Any]]:
    """What was sent to the person's addresses. Recipients are encrypted without an index, so
    the outbox (kept 90 days) is read in chunks and compared after decryption."""
    mine = {a for a in (user.email.lower(), user.phone, user.wecom_id) if a}
    found = []
    rows = Outbox.objects.order_by("pk").only(
        "recipient", "channel", "subject", "body", "created_at", "status"
    )
    for row in rows.iterator(chunk_size=OUTBOX_CHUNK):
        if row.recipient and row.recipient.lower() in mine:
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


def person_push(user: Any) -> list[dict[str, Any]]:
    """When the person turned browser notifications on (no keys or endpoints)."""
    return [{"since": p.created_at} for p in PushSubscription.objects.filter(user=user)]
