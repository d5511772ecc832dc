"""The bot: it follows a waiting chat and answers what it can until an agent accepts it.

Every customer message of a chat that waits for an agent is read for a question the bot can
answer from the customer's own data or the knowledge base (the rules: chat/intents.py; the
answers, composed from the owning apps' selectors: chat/answers.py):

- where is my shipment (a tracking number, a ticket reference, or "my parts": their
  shipments under way) - logistics.selectors;
- what is the state of my ticket (a reference, or "my ticket": their open ones) -
  tickets.selectors;
- when does the desk open (the business calendar of the customer's contract) -
  tickets.selectors.desk_hours;
- a fault code (E101): the catalogue's title and first checks, and its help articles;
- anything else may describe a symptom: help articles not suggested in this chat yet.

Every read is scoped to the customer: another organisation's ticket or shipment gets the
same "not found" answer as a number that does not exist. The bot answers in the language the
message is written in (Chinese characters: Chinese; English words: English), else in the
customer's own. A message that asks nothing it knows gets no answer; the first message the bot
sees while no agent can take the chat gets the queue notice once (busy or closed, the place in
the queue, and callback, ticket or wait). The moment an agent accepts, the bot is silent: it
writes only under the conversation's row lock, and only while the chat still waits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from chat import answers, intents, presence
from chat.answers import ACTIONS, Reply, opens_at, queue_position  # noqa: F401 (the bot's API)
from chat.models import ChatMessage, Conversation, ConversationStatus
from chat.services import conversation_close, message_post
from core.errors import ApplicationError
from tickets.models import Channel, Kind, Priority
from tickets.services import tickets as ticket_services

# How many of its own latest messages the bot reads to know what it said already.
HISTORY = 20


def needed(conversation: Conversation, *, now: dt.datetime | None = None) -> bool:
    """True while the chat waits and no online agent of its queue has a free slot."""
    if conversation.status != ConversationStatus.WAITING:
        return False
    if conversation.queue_id is None:
        return True
    return not presence.has_free_agent(conversation, now=now or timezone.now())


def _say(conversation: Conversation, reply: Reply) -> ChatMessage:
    """Post the bot's message (a confirmation: said whoever has the chat)."""
    number = Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True)
    message, _created = message_post(
        conversation=conversation,
        sender=None,
        body=reply.body,
        client_id=f"bot-{(number.first() or 0) + 1}",
        is_bot=True,
        payload=reply.payload,
    )
    return message


@transaction.atomic
def _say_while_waiting(conversation: Conversation, reply: Reply) -> ChatMessage | None:
    """Post the bot's message only while the chat still waits; None once an agent has it.

    The row lock orders this against an agent's acceptance (chat.presence takes the same
    lock): either the bot spoke before the agent took the chat, or it says nothing."""
    last_seq = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation.pk, status=ConversationStatus.WAITING)
        .values_list("last_seq", flat=True)
        .first()
    )
    if last_seq is None:
        conversation.status = ConversationStatus.ACTIVE
        return None
    message, _created = message_post(
        conversation=conversation,
        sender=None,
        body=reply.body,
        client_id=f"bot-{last_seq + 1}",
        is_bot=True,
        payload=reply.payload,
    )
    return message


def _language(conversation: Conversation) -> str:
    return conversation.customer.language or settings.LANGUAGE_CODE


def _said_before(conversation: Conversation) -> tuple[bool, set[str]]:
    """From the bot's latest messages (one query): whether the queue notice was given, and
    the URLs of the articles it suggested."""
    payloads = (
        ChatMessage.objects.filter(conversation_id=conversation.pk, is_bot=True)
        .order_by("-seq")
        .values_list("payload", flat=True)[:HISTORY]
    )
    notice, urls = False, set()
    for payload in payloads:
        payload = payload or {}
        notice = notice or "actions" in payload
        urls.update(a.get("url", "") for a in payload.get("articles") or ())
    return notice, urls


def answer(
    *, conversation: Conversation, text: str, now: dt.datetime | None = None
) -> list[ChatMessage]:
    """Read a customer's message of a waiting chat; return what the bot said (maybe nothing).

    A question the bot knows is answered at once, whoever is online; the queue notice comes
    once, with the first message the bot sees while no agent can take the chat. Nothing is
    said once an agent has the chat."""
    if conversation.status != ConversationStatus.WAITING:
        return []
    now = now or timezone.now()
    question = intents.read(text)
    language = question.language or _language(conversation)
    notice_given, suggested = _said_before(conversation)
    replies: list[Reply] = []
    with translation.override(language):
        reply = answers.reply_to(conversation, question, language, now)
        articles = []
        if reply is None:
            articles = answers.symptom_articles(conversation, text, language, suggested)
        notice_due = not notice_given and needed(conversation, now=now)
        if reply is not None:
            replies.append(reply)
        elif articles and not notice_due:
            replies.append(answers.articles_reply(articles))
        if notice_due:
            replies.append(
                answers.queue_notice(conversation=conversation, now=now, articles=articles)
            )
    said = [_say_while_waiting(conversation, r) for r in replies]
    return [m for m in said if m is not None]


def shipment_answer(*, conversation: Conversation, text: str) -> ChatMessage | None:
    """Answer a message only if it asks where a shipment is (while the chat waits)."""
    question = intents.read(text)
    if conversation.status != ConversationStatus.WAITING or question.intent != intents.SHIPMENT:
        return None
    with translation.override(question.language or _language(conversation)):
        reply = answers.shipment_reply(user=conversation.customer, question=question)
    return _say_while_waiting(conversation, reply)


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
    _say(conversation, Reply(said, {"intent": "callback", "ticket": ticket.reference}))
    return ticket


def to_ticket(*, conversation: Conversation, user: Any):
    """Turn the chat into a ticket: the transcript becomes the ticket, the chat closes."""
    if user.pk != conversation.customer_id and not user.is_staff:
        raise ApplicationError(_("Only the customer or an agent can do this."), code="forbidden")
    closed = conversation_close(conversation=conversation, actor=user)
    return closed.ticket


def keep_waiting(*, conversation: Conversation) -> ChatMessage | None:
    """'Talk to a person' or 'wait': stay in the queue, told the place in it (nothing once an
    agent has the chat)."""
    position = queue_position(conversation)
    with translation.override(_language(conversation)):
        said = _("An agent will answer you here. You are number %(n)s in the queue.") % {
            "n": position
        }
    return _say_while_waiting(
        conversation, Reply(said, {"intent": "position", "position": position})
    )
