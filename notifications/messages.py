"""The one notification path: a message and a person become deliveries, here and nowhere else.

Other apps compose a `Message` (a template name, the context, a key, what it is about) and name
who is told: a User, or a `Recipient` they describe themselves (a status-page subscriber has
no account). This module alone decides the channels (the person's profile: e-mail, SMS,
WeCom, every browser that turned notifications on, their webhook), the language, renders each
channel's text and writes the outbox rows in the caller's transaction, keyed
`<message key>:<channel>` (`:push:<subscription id>` for each browser), so a caller that runs
twice writes nothing twice. The rows are handed to the workers after commit, in batches.

Templates: `notifications/email/<template>.subject.txt` and `.body.txt`. The short text of
SMS, WeCom and push is the context's `short` (composed by the caller in the recipient's
language: the context may be a function of the language, called with that language active),
else the e-mail's subject. A webhook gets the message's `webhook` JSON, else a generic notice.

Answers on a messaging platform (`answer_on_platform`): an agent's chat message or ticket
reply to a person who writes from WeChat or WeCom goes back there, in full. The chat and
tickets apps name the person and the platform; the address (the identity they wrote from,
bound or standing in for an unidentified contact) and whether the platform still takes it
(WeChat: within 48 hours of their last message) are decided here.

There are no quiet hours or per-event preferences yet; when they come they belong in
`recipient_of` and `_deliveries`, and every event follows them at once.

An organisation's own systems are told too: the other app names the organisation and the
`Event`s of one write (`notify_organisation`), and this app decides which of the
organisation's webhook endpoints get which (notifications.endpoints): one outbox row per
write here, the fan-out to the endpoints in the worker.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import prefetch_related_objects
from django.utils import timezone, translation

from accounts import selectors as account_selectors
from core.logging import one_line
from notifications.endpoints import event_id
from notifications.models import Channel, EventType
from notifications.services import (
    _enqueue_in_batch,
    _enqueue_new,
    _enqueue_new_many,
    outbox_hand_over,
    render_message,
)

# Extra e-mail headers a message may carry (threading: set by the ticket's mail later).
EMAIL_HEADERS = frozenset({"In-Reply-To", "References", "Reply-To", "Auto-Submitted"})


@dataclass(frozen=True)
class Recipient:
    """Where one person is reached: each address set is a channel they chose."""

    language: str = ""
    email: str = ""
    phone: str = ""
    wecom_id: str = ""
    push_subscription_ids: tuple[int, ...] = ()
    webhook_url: str = ""


Context = Mapping[str, Any] | Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class Message:
    """What to say, composed by the calling app; who hears it and how is decided here.

    `context` is a mapping, or a function of the language returning one (called with that
    language active, for texts composed with gettext). `url` is where a browser notification
    (and the webhook notice) points; `tag` replaces an earlier browser notification about the
    same thing. `channels` narrows the channels (an address confirmation goes by e-mail only).
    `urgent` also texts a staff member's phone (a call to the standby roster). `headers` are
    extra e-mail headers (names in EMAIL_HEADERS).
    """

    template: str
    key: str
    context: Context = field(default_factory=dict)
    about: models.Model | None = None
    url: str = ""
    tag: str = ""
    webhook: Mapping[str, Any] | None = None
    wecom_full: bool = False
    channels: frozenset[str] | None = None
    urgent: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


def recipient_of(user: Any, *, urgent: bool = False) -> Recipient | None:
    """Read a person's channels from their profile (None for an inactive account).

    A customer chooses e-mail, SMS (with a number), WeCom (with an ID), browser notifications
    (each subscribed browser) and a webhook. Staff get e-mail always, and an SMS to their
    phone for an urgent call; they have no browser subscriptions.
    """
    if user is None or not getattr(user, "is_active", True):
        return None
    language = user.language or settings.LANGUAGE_CODE
    if user.is_staff:
        return Recipient(
            language=language, email=user.email or "", phone=user.phone if urgent else ""
        )
    return Recipient(
        language=language,
        email=user.email if user.notify_email else "",
        phone=user.phone if user.notify_sms else "",
        wecom_id=user.wecom_id if user.notify_wecom else "",
        push_subscription_ids=tuple(sorted(s.pk for s in user.push_subscriptions.all())),
        webhook_url=user.notify_webhook_url or "",
    )


def prefetch_channels(users: Iterable[Any]) -> None:
    """Read the browser subscriptions of many people at once (before `notify` each), in
    chunks of 500 people per query."""
    customers = [u for u in users if not u.is_staff]
    for start in range(0, len(customers), 500):
        prefetch_related_objects(customers[start : start + 500], "push_subscriptions")


def notify(*, to: Any, message: Message, hand_over: bool = True, batch: Any = None) -> list[int]:
    """Tell one person (a User or a Recipient) by every channel they chose; return the ids of
    the rows written now (none for a key written before).

    Written in the caller's transaction; with hand_over the rows go to the workers after
    commit, else the caller hands many over at once (`hand_over`). With a `core.batch`
    `InsertBatch` the rows are queued in it and written by the caller's flush, together with
    the caller's own rows (one statement); nothing is returned then, and the rows written
    are handed over when the batch learns their ids.
    """
    if isinstance(to, Recipient):
        recipient, user = to, None
    else:
        recipient, user = recipient_of(to, urgent=message.urgent), to
    if recipient is None:
        return []
    if batch is not None:
        _enqueue_in_batch(batch, _deliveries(recipient, user, message), hand_over=hand_over)
        return []
    written = (_enqueue_new(**delivery) for delivery in _deliveries(recipient, user, message))
    ids = [pk for pk in written if pk is not None]
    if hand_over:
        outbox_hand_over(ids)
    return ids


def notify_many(items: Iterable[tuple[Any, Message]], *, hand_over: bool = True) -> list[int]:
    """Tell many people at once, each as `notify` would (the same channels, texts and keys);
    the rows are written in a few multi-row inserts instead of one statement each.

    For a batch of thousands of notices (compensation's approval): return the ids of the rows
    written now.
    """
    deliveries: list[dict[str, Any]] = []
    for to, message in items:
        if isinstance(to, Recipient):
            recipient, user = to, None
        else:
            recipient, user = recipient_of(to, urgent=message.urgent), to
        if recipient is not None:
            deliveries += _deliveries(recipient, user, message)
    ids = _enqueue_new_many(deliveries)
    if hand_over:
        outbox_hand_over(ids)
    return ids


@dataclass(frozen=True)
class Event:
    """Something that happened to one of an organisation's objects, for its own systems.

    `type` is one of notifications.models.EventType; `data` is what the event says, ready for
    JSON and holding nothing the organisation does not own (the caller's choice, documented in
    docs/webhooks.md); `occurred_at` is when it happened.
    """

    type: str
    data: Mapping[str, Any]
    occurred_at: dt.datetime


def notify_organisation(
    *,
    organisation_id: int,
    key: str,
    events: Sequence[Event],
    about: models.Model | None = None,
    batch: Any = None,
) -> int | None:
    """Tell an organisation's systems (its webhook endpoints) about the events of one write.

    One outbox row in the caller's transaction, whatever the number of events and endpoints
    (with a `core.batch` `InsertBatch`: queued in it, no statement of its own); when it is
    delivered the worker writes one delivery per event and endpoint subscribed to it. `key`
    names the write (the same key twice writes once); each event's id is derived from it.
    Returns the row's id (None when written before, or queued in a batch).
    """
    if not events:
        return None
    for event in events:
        if event.type not in EventType.values:
            raise ValueError(f"unknown organisation event {event.type!r}")
    notice = {
        "organisation": organisation_id,
        "events": [
            {
                "id": event_id(key, event.type),
                "type": event.type,
                "occurred_at": event.occurred_at.isoformat(),
                "data": dict(event.data),
            }
            for event in events
        ],
    }
    delivery = {
        "key": f"{key}:org",
        "channel": Channel.ORG_EVENT,
        "recipient": f"organisation:{organisation_id}",
        "body": json.dumps(notice, ensure_ascii=False, default=str),
        "about": about,
        "hand_over": True,
    }
    if batch is not None:
        _enqueue_in_batch(batch, [delivery], hand_over=True)
        return None
    return _enqueue_new(**delivery)


def hand_over(ids: list[int]) -> None:
    """Hand rows written with hand_over=False to the workers after commit, in batches."""
    outbox_hand_over(ids)


def _deliveries(recipient: Recipient, user: Any, message: Message) -> list[dict[str, Any]]:
    allowed = message.channels
    language = recipient.language or settings.LANGUAGE_CODE

    def wanted(channel: str, address: Any) -> bool:
        return bool(address) and (allowed is None or channel in allowed)

    chosen = {
        Channel.EMAIL: wanted(Channel.EMAIL, recipient.email),
        Channel.SMS: wanted(Channel.SMS, recipient.phone),
        Channel.WECOM: wanted(Channel.WECOM, recipient.wecom_id),
        Channel.PUSH: wanted(Channel.PUSH, recipient.push_subscription_ids),
        Channel.WEBHOOK: wanted(Channel.WEBHOOK, recipient.webhook_url),
    }
    if not any(chosen.values()):
        return []
    with translation.override(language):
        context = dict(message.context(language) if callable(message.context) else message.context)
    if user is not None:
        context.setdefault("recipient", user)
    subject, body = render_message(f"email/{message.template}", context, language=language)
    short = one_line(str(context.get("short") or subject))
    common = {"language": language, "about": message.about, "hand_over": False}
    out: list[dict[str, Any]] = []
    if chosen[Channel.EMAIL]:
        headers = {k: one_line(str(v)) for k, v in message.headers.items() if k in EMAIL_HEADERS}
        out.append(
            {
                "key": f"{message.key}:email",
                "channel": Channel.EMAIL,
                "recipient": recipient.email,
                "subject": subject,
                "body": body,
                "headers": headers,
                **common,
            }
        )
    if chosen[Channel.SMS]:
        out.append(_short(message, Channel.SMS, recipient.phone, short[:300], common))
    if chosen[Channel.WECOM]:
        text = f"{subject}\n\n{body}"[:2000] if message.wecom_full else short[:2000]
        out.append(_short(message, Channel.WECOM, recipient.wecom_id, text, common))
    if chosen[Channel.PUSH]:
        payload = json.dumps(
            {
                "title": one_line(str(context.get("push_title") or subject))[:120],
                "body": short[:300],
                "url": message.url or "/",
                "tag": message.tag or message.key,
            },
            ensure_ascii=False,
        )
        for pk in recipient.push_subscription_ids:
            out.append(
                {
                    "key": f"{message.key}:push:{pk}",
                    "channel": Channel.PUSH,
                    "recipient": str(pk),
                    "body": payload,
                    **common,
                }
            )
    if chosen[Channel.WEBHOOK]:
        notice = message.webhook
        if notice is None:
            about = message.about
            notice = {
                "type": message.template,
                "key": message.key,
                "about": (
                    {"type": about._meta.label_lower, "id": str(about.pk)} if about else None
                ),
                "language": language,
                "title": subject,
                "text": short,
                "url": message.url,
            }
        body = json.dumps(notice, ensure_ascii=False, default=str)
        out.append(_short(message, Channel.WEBHOOK, recipient.webhook_url, body, common))
    return out


# WeChat takes customer-service messages within 48 hours of the follower's last message.
WECHAT_ANSWER_WINDOW = dt.timedelta(hours=48)
# The longest text message both platforms take (bytes of UTF-8).
PLATFORM_TEXT_BYTES = 2048


def answer_on_platform(
    *,
    to: Any,
    text: str,
    key: str,
    about: models.Model | None = None,
    platform: str = "",
    now: dt.datetime | None = None,
) -> list[int]:
    """Send a desk answer to a person on the messaging platform they write from (`platform`
    when the caller knows it, else the one they wrote from last), in the caller's
    transaction; return the outbox ids written now (none for a key written before).

    Nothing is written when the person has no identity there, when it belongs to another
    official account or corp than the one configured, or (WeChat) when they last wrote more
    than 48 hours ago: the platform would refuse it, and the person's usual channels carry
    the ticket notices anyway. A text longer than the platforms take is shortened.
    """
    identity = account_selectors.platform_identity_to_answer(user=to, platform=platform)
    if identity is None or (identity.user_id is not None and not to.is_active):
        return []
    if identity.platform == "wechat":
        if identity.app_id != settings.WECHAT_APP_ID:
            return []
        if identity.last_message_at < (now or timezone.now()) - WECHAT_ANSWER_WINDOW:
            return []
        channel = Channel.WECHAT
    else:
        if identity.app_id != settings.WECOM_CORP_ID:
            return []
        channel = Channel.WECOM
    row = _enqueue_new(
        key=f"{key}:{channel}",
        channel=channel,
        recipient=identity.external_id,
        body=_fit(text),
        language=getattr(to, "language", "") or settings.LANGUAGE_CODE,
        about=about,
        hand_over=False,
    )
    ids = [row] if row is not None else []
    outbox_hand_over(ids)
    return ids


def _fit(text: str) -> str:
    """The text, shortened with an ellipsis to at most PLATFORM_TEXT_BYTES of UTF-8."""
    data = text.encode()
    if len(data) <= PLATFORM_TEXT_BYTES:
        return text
    return data[: PLATFORM_TEXT_BYTES - 3].decode(errors="ignore") + "…"


def _short(message: Message, channel: str, address: str, text: str, common: dict) -> dict:
    return {
        "key": f"{message.key}:{channel}",
        "channel": channel,
        "recipient": address,
        "body": text,
        **common,
    }


__all__ = [
    "Event",
    "EventType",
    "Message",
    "Recipient",
    "answer_on_platform",
    "hand_over",
    "notify",
    "notify_many",
    "notify_organisation",
    "prefetch_channels",
    "recipient_of",
]
