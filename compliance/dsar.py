"""Data-subject access: everything the desk holds about one person, as a ZIP of JSON files.

profile.json, tickets.json (the tickets they asked for; their own messages in full, the desk's
public replies with the author shown only as "WeldDesk"), chats.json (the same rule),
attachments/ (the files they uploaded), consents.json (notification choices, browser push,
status subscriptions), notifications.json (what was sent to their address, number or WeCom
ID), calls.json, compensation.json (what their organisation received), shipments.json (those
of their tickets), activity.json (audit events they caused or that concern them:
references only). Other people's personal data never appears: agents are "WeldDesk", other
customers are left out, the organisation's contact details only when they are the contact.

The ZIP is written to a temporary file and streamed from there, so memory stays small.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zipfile
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from accounts.models import User
from audit.models import AuditEvent
from chat.models import ChatAttachment, ChatMessage, Conversation
from compensation.models import Grant, GrantStatus
from core import privacy
from intake.models import Call
from logistics.models import Shipment
from notifications.models import Outbox, PushSubscription
from status.models import Subscriber
from tickets.models import Attachment, Message, Ticket

DESK = "WeldDesk"
OUTBOX_CHUNK = 2000


class _Encoder(DjangoJSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal):
            return str(o)
        return super().default(o)


def _dump(value: Any) -> str:
    return json.dumps(value, cls=_Encoder, ensure_ascii=False, indent=2)


def profile(user: User) -> dict[str, Any]:
    org = user.organisation
    data = {
        **privacy.readable(user),  # every personal field the registry lists for an account
        "language": user.language,
        "timezone": user.timezone,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "is_active": user.is_active,
        "organisation": org.name if org else None,
    }
    if org is not None and org.contact_email_bidx and org.contact_email_bidx == user.email_bidx:
        data["organisation_contact"] = privacy.readable(org)
    return data


def _author(message: Any, user: User) -> str:
    if message.author_id == user.pk:
        return "you"
    return DESK if message.author_id is None or message.author.is_staff else "another person"


def tickets(user: User) -> list[dict[str, Any]]:
    found = []
    requested = Ticket.objects.filter(requester=user).order_by("created_at")
    for ticket in requested.prefetch_related("messages__author"):
        found.append(
            {
                "reference": ticket.reference,
                "subject": ticket.subject,
                "status": ticket.status,
                "priority": ticket.priority,
                "created_at": ticket.created_at,
                "resolved_at": ticket.resolved_at,
                "closed_at": ticket.closed_at,
                "messages": [
                    {"from": _author(m, user), "at": m.created_at, "body": m.body}
                    for m in ticket.messages.all()
                    if not m.internal and _author(m, user) != "another person"
                ],
            }
        )
    # Messages they wrote on tickets somebody else of their organisation asked for.
    others = Message.objects.filter(author=user, internal=False).exclude(ticket__requester=user)
    for m in others.select_related("ticket").order_by("created_at"):
        found.append(
            {
                "reference": m.ticket.reference,
                "messages": [{"from": "you", "at": m.created_at, "body": m.body}],
            }
        )
    return found


def chats(user: User) -> list[dict[str, Any]]:
    found = []
    for conversation in Conversation.objects.filter(customer=user).order_by("created_at"):
        messages = ChatMessage.objects.filter(conversation=conversation).order_by("seq")
        found.append(
            {
                "started": conversation.created_at,
                "closed": conversation.closed_at,
                "rating": conversation.rating,
                "rating_comment": conversation.rating_comment,
                "messages": [
                    {
                        "from": "you" if m.sender_id == user.pk else ("bot" if m.is_bot else DESK),
                        "at": m.created_at,
                        "body": m.body,
                    }
                    for m in messages
                ],
            }
        )
    return found


def consents(user: User) -> dict[str, Any]:
    return {
        "notify_email": user.notify_email,
        "notify_sms": user.notify_sms,
        "notify_wecom": user.notify_wecom,
        "notify_webhook_url": user.notify_webhook_url,
        "browser_push": [
            {"since": p.created_at} for p in PushSubscription.objects.filter(user=user)
        ],
        "status_subscriptions": [
            {"confirmed": s.confirmed_at, "since": s.created_at, "language": s.language}
            for s in Subscriber.objects.filter(email_bidx=user.email_bidx)
        ],
    }


def notifications(user: User) -> list[dict[str, Any]]:
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


def calls(user: User) -> list[dict[str, Any]]:
    if not user.phone_bidx:
        return []
    return [
        {"line": c.line, "started": c.started_at, "answered": c.answered_at, "ended": c.ended_at}
        for c in Call.objects.filter(caller_bidx=user.phone_bidx).order_by("started_at")
    ]


def compensation(user: User) -> list[dict[str, Any]]:
    if user.organisation_id is None:
        return []
    grants = Grant.objects.filter(
        organisation_id=user.organisation_id,
        status__in=[GrantStatus.APPLIED, GrantStatus.REVERSED],
    ).select_related("assessment")
    return [
        {
            "kind": g.kind,
            "status": g.status,
            "days": g.days,
            "amount_cny": g.amount,
            "event": g.assessment.key,
            "applied_at": g.applied_at,
            "reversed_at": g.reversed_at,
        }
        for g in grants.order_by("applied_at", "pk")
    ]


def shipments(user: User) -> list[dict[str, Any]]:
    found = Shipment.objects.filter(tickets__requester=user).distinct().order_by("created_at")
    return [
        {
            "tracking_number": s.tracking_number,
            "kind": s.kind,
            "status": s.status,
            "delivery_address": s.delivery_address,
            "items": s.items,
            "sent": s.created_at,
            "delivered": s.delivered_at,
        }
        for s in found
    ]


def activity(user: User) -> list[dict[str, Any]]:
    events = AuditEvent.objects.filter(actor_ref=f"user:{user.pk}") | AuditEvent.objects.filter(
        target_type="accounts.user", target_id=str(user.pk)
    )
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "action": e.action,
            "target": f"{e.target_type}:{e.target_id}" if e.target_type else "",
            "by_you": e.actor_ref == f"user:{user.pk}",
        }
        for e in events.order_by("seq")[:50_000]
    ]


def _attachments(user: User) -> list[tuple[str, Any]]:
    files = [
        (f"attachments/tickets/{a.pk}-{a.original_name}", a.file)
        for a in Attachment.objects.filter(uploaded_by=user).order_by("pk")
    ]
    files += [
        (f"attachments/chats/{a.pk}-{a.original_name}", a.file)
        for a in ChatAttachment.objects.filter(uploaded_by=user).order_by("pk")
    ]
    return files


def build(user: User) -> tempfile.SpooledTemporaryFile:
    """Write the ZIP to a temporary file (in memory up to 8 MB) and return it, rewound."""
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned open
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        parts = {
            "profile.json": profile(user),
            "tickets.json": tickets(user),
            "chats.json": chats(user),
            "consents.json": consents(user),
            "notifications.json": notifications(user),
            "calls.json": calls(user),
            "compensation.json": compensation(user),
            "shipments.json": shipments(user),
            "activity.json": activity(user),
        }
        for name, value in parts.items():
            archive.writestr(name, _dump(value))
        listed = []
        for name, field in _attachments(user):
            try:
                with field.open("rb") as handle, archive.open(name, "w") as target:
                    for block in iter(lambda h=handle: h.read(1 << 20), b""):
                        target.write(block)
                listed.append(name)
            except (OSError, ValueError):
                listed.append(f"{name} (missing from storage)")
        archive.writestr(
            "README.txt",
            "Everything WeldDesk holds about you, exported "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.\n"
            "Each .json file is one kind of record; attachments/ holds the files you uploaded.\n"
            "Other people's personal data is left out: the desk's staff appear as 'WeldDesk'.\n"
            + "".join(f"- {name}\n" for name in listed),
        )
    out.seek(0)
    return out
