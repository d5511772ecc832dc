"""The bot: when no agent can take a waiting chat, it answers from the knowledge base.

It suggests the best-matching help articles, says the customer's place in the queue (and, out
of hours, when the desk opens), and offers a callback, a ticket, or waiting on. "Talk to a
person" is always one click away: it only keeps the chat in the queue.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from chat import presence
from chat.models import ChatMessage, Conversation, ConversationStatus
from chat.services import conversation_close, message_post
from core.errors import ApplicationError
from knowledge import selectors as knowledge
from logistics import selectors as logistics
from logistics.panels import status_line
from tickets import businesstime as bt
from tickets.models import BusinessCalendar, Channel, Kind, Priority
from tickets.services import tickets as ticket_services
from tickets.services.calendars import calendar_spec

ACTIONS = ["person", "callback", "ticket", "wait"]
# The bot speaks again only after this many other messages (it never floods the chat).
QUIET_MESSAGES = 3


def needed(conversation: Conversation, *, now: dt.datetime | None = None) -> bool:
    """True while the chat waits and no online agent of its queue has a free slot."""
    if conversation.status != ConversationStatus.WAITING:
        return False
    if conversation.queue_id is None:
        return True
    return not presence.has_free_agent(conversation, now=now or timezone.now())


def queue_position(conversation: Conversation) -> int:
    return Conversation.objects.filter(
        status=ConversationStatus.WAITING,
        queue_id=conversation.queue_id,
        created_at__lte=conversation.created_at,
    ).count()


def opens_at(now: dt.datetime) -> dt.datetime | None:
    """When the desk opens next, if it is closed now (by the desk's business calendar)."""
    calendar = BusinessCalendar.objects.order_by("pk").first()
    if calendar is None:
        return None
    spec = calendar_spec(calendar)
    if bt.is_working(spec, now):
        return None
    return bt.add(spec, now, 1) - dt.timedelta(seconds=1)


def _say(conversation: Conversation, body: str, payload: dict) -> ChatMessage:
    message, _created = message_post(
        conversation=conversation,
        sender=None,
        body=body,
        client_id=f"bot-{conversation.last_seq + 1}",
        is_bot=True,
        payload=payload,
    )
    return message


def _language(conversation: Conversation) -> str:
    return conversation.customer.language or settings.LANGUAGE_CODE


# Words of a question about a shipment, in English and Chinese.
SHIPMENT_WORDS = re.compile(
    r"shipment|parcel|package|deliver|tracking|courier|where is my|spare part|"
    r"快递|物流|到哪|发货|运单|包裹|配件|寄出|寄回",
    re.IGNORECASE,
)


def shipment_answer(*, conversation: Conversation, text: str) -> ChatMessage | None:
    """ "Where is my shipment?" with a tracking or ticket number (or none): the status from
    the carrier, without an agent, while the chat has none."""
    if conversation.status != ConversationStatus.WAITING or not SHIPMENT_WORDS.search(text):
        return None
    shipments = logistics.shipments_asked_about(user=conversation.customer, text=text)
    language = _language(conversation)
    with translation.override(language):
        if shipments:
            parts = [_("Here is what the carrier reports:")]
            for s in shipments:
                line = f"• {s.get_kind_display()} {s.tracking_number}: {status_line(s)}"
                if s.expected_on and not s.is_final:
                    line += " · " + _("expected %(day)s") % {"day": s.expected_on}
                if s.check_failures:
                    line += " · " + _("the carrier cannot be reached now; last known status")
                parts.append(line)
            parts.append(_("Details: %(link)s") % {"link": reverse("portal:shipments")})
        else:
            parts = [
                _(
                    "I found no shipment under way for you with that number. Please check the "
                    "tracking number or the ticket number (WD-…); an agent will also see your "
                    "question."
                )
            ]
        body = "\n".join(parts)
    payload = {
        "shipments": [
            {
                "tracking_number": s.tracking_number,
                "status": s.status,
                "url": reverse("portal:shipment", args=[s.pk]),
            }
            for s in shipments
        ]
    }
    return _say(conversation, body, payload)


def answer(*, conversation: Conversation, text: str, now: dt.datetime | None = None):
    """Answer a customer's message if no agent can; return the bot's message or None.

    A question about a shipment is answered at once from the carrier's tracking."""
    now = now or timezone.now()
    tracked = shipment_answer(conversation=conversation, text=text)
    if tracked is not None:
        return tracked
    if not needed(conversation, now=now):
        return None
    recent = list(conversation.messages.order_by("-seq")[:QUIET_MESSAGES])
    if any(m.is_bot for m in recent):
        return None
    language = _language(conversation)
    articles = knowledge.article_suggest(
        text=text, language=language, unit=conversation.unit, limit=3
    )
    position = queue_position(conversation)
    opening = opens_at(now)
    with translation.override(language):
        parts = [_("All our agents are busy right now.")]
        if opening is not None:
            local = timezone.localtime(opening)
            parts = [
                _("The service desk is closed now; it opens %(when)s.")
                % {"when": local.strftime("%Y-%m-%d %H:%M")}
            ]
        if articles:
            parts.append(_("These help articles may solve it right away:"))
            parts += [f"• {a.title}" for a in articles]
        parts.append(
            _(
                "You are number %(n)s in the queue. Ask for a callback, turn this chat into "
                "a ticket, or wait for the next agent."
            )
            % {"n": position}
        )
        body = "\n".join(parts)
    payload = {
        "articles": [
            {"title": a.title, "url": reverse("portal:article", args=[a.language, a.slug])}
            for a in articles
        ],
        "position": position,
        "opens_at": opening.isoformat() if opening else None,
        "actions": ACTIONS,
    }
    return _say(conversation, body, payload)


def _phone(value: Any) -> str:
    phone = value.strip() if isinstance(value, str) else ""
    digits = [c for c in phone if c.isdigit()]
    if not 6 <= len(digits) <= 15 or any(c not in "+0123456789 -()" for c in phone):
        raise ApplicationError(
            _("Enter a phone number we can call, e.g. +86 138 0013 8000."), code="bad_phone"
        )
    return phone


@transaction.atomic
def callback_request(*, conversation: Conversation, user: Any, phone: Any):
    """Open a callback ticket (priority P2: its own, faster SLA) and link it to the chat."""
    if user.pk != conversation.customer_id:
        raise ApplicationError(_("Only the customer asks for a callback."), code="forbidden")
    phone = _phone(phone)
    language = _language(conversation)
    with translation.override(language):
        subject = _("Callback request from the chat")
        body = _("Please call me back at %(phone)s.") % {"phone": phone}
    ticket = ticket_services.ticket_open(
        actor=user,
        organisation=conversation.organisation,
        requester=user,
        unit=conversation.unit,
        subject=subject,
        body=body,
        kind=Kind.CALLBACK,
        priority=Priority.P2,
        channel=Channel.CALLBACK,
    )
    Conversation.objects.filter(pk=conversation.pk, ticket__isnull=True).update(ticket=ticket)
    with translation.override(language):
        said = _("We will call you back. Your callback request is %(ref)s.") % {
            "ref": ticket.reference
        }
    _say(conversation, said, {"ticket": ticket.reference})
    return ticket


def to_ticket(*, conversation: Conversation, user: Any):
    """Turn the chat into a ticket: the transcript becomes the ticket, the chat closes."""
    if user.pk != conversation.customer_id and not user.is_staff:
        raise ApplicationError(_("Only the customer or an agent can do this."), code="forbidden")
    closed = conversation_close(conversation=conversation, actor=user)
    return closed.ticket


def keep_waiting(*, conversation: Conversation) -> ChatMessage:
    """'Talk to a person' or 'wait': stay in the queue, told the place in it."""
    with translation.override(_language(conversation)):
        said = _("An agent will answer you here. You are number %(n)s in the queue.") % {
            "n": queue_position(conversation)
        }
    return _say(conversation, said, {"position": queue_position(conversation)})
