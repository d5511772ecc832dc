"""The bot: it follows a waiting chat and answers what it can until an agent accepts it.

Every customer message of a chat that waits for an agent is read for a question the bot can
answer from the customer's own data or the knowledge base (the rules: chat/intents.py):

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
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat import intents, presence
from chat.models import ChatMessage, Conversation, ConversationStatus
from chat.services import conversation_close, message_post
from core.errors import ApplicationError
from equipment import selectors as equipment
from knowledge import selectors as knowledge
from logistics import selectors as logistics
from logistics.panels import status_line
from tickets import selectors as tickets
from tickets.models import Channel, Kind, Priority, Status, Weekday
from tickets.services import tickets as ticket_services

ACTIONS = ["person", "callback", "ticket", "wait"]
# How many of its own latest messages the bot reads to know what it said already.
HISTORY = 20
# A symptom's articles must match this well (a title word, or two words of the body).
MIN_ARTICLE_SCORE = 2
ARTICLES = 3

STATUS_MEANS = {
    Status.NEW: gettext_lazy("received; an agent will take it up soon"),
    Status.OPEN: gettext_lazy("an agent is working on it"),
    Status.WAITING: gettext_lazy("we are waiting for your answer"),
    Status.ON_HOLD: gettext_lazy("on hold (for example, waiting for parts)"),
    Status.RESOLVED: gettext_lazy("resolved; reply on it if the problem is back"),
    Status.CLOSED: gettext_lazy("closed"),
}


@dataclass
class Reply:
    """What the bot is about to say: the text and the data the chat page shows with it."""

    body: str
    payload: dict[str, Any] = field(default_factory=dict)


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


def opens_at(now: dt.datetime, *, tier: str | None = None) -> dt.datetime | None:
    """When the desk opens next, if it is closed now (by the desk's business calendar)."""
    hours = tickets.desk_hours(tier=tier, now=now)
    return hours.opens_at if hours is not None else None


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


def _article_rows(articles: list) -> list[dict[str, str]]:
    return [
        {"title": a.title, "url": reverse("portal:article", args=[a.language, a.slug])}
        for a in articles
    ]


# ---------------------------------------------------------------- the answers, one per question


def shipment_reply(*, user: Any, question: intents.Question) -> Reply:
    """ "Where is my shipment?": the carrier's status of the shipments named by tracking or
    ticket number, or of the customer's shipments under way."""
    asked = bool(question.tracking_numbers or question.references)
    shipments = logistics.shipments_asked_about(
        user=user, tracking_numbers=question.tracking_numbers, references=question.references
    )
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
    elif asked:
        parts = [
            _(
                "I found no shipment under way for you with that number. Please check the "
                "tracking number or the ticket number (WD-…); an agent will also see your "
                "question."
            )
        ]
    else:
        parts = [
            _(
                "You have no shipment under way. Tell me its tracking number or the ticket "
                "number (WD-…) to look one up."
            )
        ]
    payload = {
        "intent": intents.SHIPMENT,
        "shipments": [
            {
                "tracking_number": s.tracking_number,
                "status": s.status,
                "url": reverse("portal:shipment", args=[s.pk]),
            }
            for s in shipments
        ],
    }
    return Reply("\n".join(parts), payload)


def ticket_reply(*, user: Any, question: intents.Question) -> Reply:
    """ "What is the state of my ticket?": by reference, or the customer's open tickets."""
    found = tickets.tickets_asked_about(user=user, references=question.references)
    parts = []
    for t in found:
        line = _("%(ref)s “%(subject)s”: %(status)s — %(means)s.") % {
            "ref": t.reference,
            "subject": t.subject,
            "status": t.get_status_display(),
            "means": STATUS_MEANS[t.status],
        }
        if t.merged_into_id:
            line += " " + _("It was merged into %(ref)s.") % {"ref": t.merged_into.reference}
        line += " " + _("Last change %(when)s.") % {
            "when": timezone.localtime(t.updated_at).strftime("%Y-%m-%d %H:%M")
        }
        parts.append(f"• {line} {reverse('portal:ticket', args=[t.reference])}")
    if found:
        parts.insert(0, _("Here is where your tickets stand:"))
    elif question.references:
        parts = [
            _(
                "I found no ticket of yours with that reference. Please check the number "
                "(WD-yyyy-nnnnnn); an agent will also see your question."
            )
        ]
    else:
        parts = [
            _(
                "You have no open ticket. Tell me its reference (WD-yyyy-nnnnnn) to look up an "
                "older one."
            )
        ]
    payload = {
        "intent": intents.TICKET,
        "tickets": [
            {
                "reference": t.reference,
                "status": t.status,
                "url": reverse("portal:ticket", args=[t.reference]),
            }
            for t in found
        ],
    }
    return Reply("\n".join(parts), payload)


def _weekly(weekly: tuple) -> str:
    """ "Monday–Friday 08:30–12:00, 13:00–17:30; Saturday 09:00–12:00": runs of days with the
    same hours, closed days left out."""
    runs: list[tuple[int, int, tuple]] = []
    for day, hours in enumerate(weekly):
        if runs and runs[-1][2] == hours and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day, hours)
        else:
            runs.append((day, day, hours))
    said = []
    for first, last, hours in runs:
        if not hours:
            continue
        days = str(Weekday(first).label)
        if last != first:
            days = _("%(first)s–%(last)s") % {
                "first": Weekday(first).label,
                "last": Weekday(last).label,
            }
        times = ", ".join(f"{s:%H:%M}–{e:%H:%M}" for s, e in hours)
        said.append(f"{days} {times}")
    return "; ".join(said)


def hours_reply(*, conversation: Conversation, now: dt.datetime) -> Reply | None:
    """ "When does the desk open?": its weekly hours, and open now (until when) or when next."""
    hours = tickets.desk_hours(tier=conversation.organisation.tier, now=now)
    if hours is None:
        return None
    zone = ZoneInfo(hours.timezone)
    parts = [
        _("Our service desk works %(hours)s (%(zone)s time), except public holidays.")
        % {"hours": _weekly(hours.weekly), "zone": hours.timezone}
    ]
    if hours.open_now and hours.closes_at:
        parts.append(
            _("It is open now, until %(time)s.")
            % {"time": hours.closes_at.astimezone(zone).strftime("%H:%M")}
        )
    elif hours.opens_at:
        parts.append(
            _("It is closed now; it opens %(when)s.")
            % {"when": hours.opens_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")}
        )
    parts.append(_("You can leave your question here at any time; an agent will see it."))
    payload = {
        "intent": intents.HOURS,
        "open_now": hours.open_now,
        "closes_at": hours.closes_at.isoformat() if hours.closes_at else None,
        "opens_at": hours.opens_at.isoformat() if hours.opens_at else None,
    }
    return Reply("\n".join(parts), payload)


def fault_code_reply(*, question: intents.Question, language: str) -> Reply | None:
    """A fault code: the catalogue's title and first checks, and the articles linked to it.
    None for a code the catalogue does not know (a model name, say): no article can be
    linked to it, and the text is searched as a symptom instead."""
    fault = equipment.fault_code_get(code=question.fault_codes[0])
    if fault is None:
        return None
    articles = knowledge.articles_for_fault_code(
        fault_code=fault, language=language, limit=ARTICLES
    )
    code = fault.code
    zh = language.lower().startswith("zh")
    parts = [f"{code} {fault.title(language)}"]
    checks = (fault.first_checks_zh if zh else fault.first_checks_en).strip()
    if checks:
        parts.append(_("First checks: %(checks)s") % {"checks": checks})
    if articles:
        parts.append(_("These help articles may solve it right away:"))
        parts += [f"• {a.title}" for a in articles]
    else:
        parts.append(
            _("There is no help article for %(code)s yet; an agent will see your message.")
            % {"code": code}
        )
    payload = {
        "intent": intents.FAULT_CODE,
        "fault_code": code,
        "articles": _article_rows(articles),
    }
    return Reply("\n".join(parts), payload)


def _symptom_articles(
    conversation: Conversation, text: str, language: str, suggested: set[str]
) -> list:
    """Help articles that match the text well and were not suggested in this chat yet."""
    found = knowledge.article_suggest(
        text=text, language=language, unit=conversation.unit, limit=ARTICLES + len(suggested)
    )
    fresh = [
        a
        for a in found
        if getattr(a, "score", 0) >= MIN_ARTICLE_SCORE
        and reverse("portal:article", args=[a.language, a.slug]) not in suggested
    ]
    return fresh[:ARTICLES]


def articles_reply(articles: list) -> Reply:
    body = "\n".join(
        [_("These help articles may solve it right away:")] + [f"• {a.title}" for a in articles]
    )
    return Reply(body, {"intent": "articles", "articles": _article_rows(articles)})


def queue_notice(*, conversation: Conversation, now: dt.datetime, articles: list = ()) -> Reply:
    """Busy (or closed, and when it opens), the place in the queue, and what the customer
    can do meanwhile; with the first symptom articles when the message described one."""
    position = queue_position(conversation)
    opening = opens_at(now, tier=conversation.organisation.tier)
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
    payload = {
        "intent": "queue",
        "articles": _article_rows(list(articles)),
        "position": position,
        "opens_at": opening.isoformat() if opening else None,
        "actions": ACTIONS,
    }
    return Reply("\n".join(parts), payload)


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


def _reply_to(
    conversation: Conversation, question: intents.Question, language: str, now: dt.datetime
) -> Reply | None:
    user = conversation.customer
    if question.intent == intents.SHIPMENT:
        return shipment_reply(user=user, question=question)
    if question.intent == intents.TICKET:
        return ticket_reply(user=user, question=question)
    if question.intent == intents.HOURS:
        return hours_reply(conversation=conversation, now=now)
    if question.intent == intents.FAULT_CODE:
        return fault_code_reply(question=question, language=language)
    return None


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
        reply = _reply_to(conversation, question, language, now)
        articles = []
        if reply is None:
            articles = _symptom_articles(conversation, text, language, suggested)
        notice_due = not notice_given and needed(conversation, now=now)
        if reply is not None:
            replies.append(reply)
        elif articles and not notice_due:
            replies.append(articles_reply(articles))
        if notice_due:
            replies.append(queue_notice(conversation=conversation, now=now, articles=articles))
    said = [_say_while_waiting(conversation, r) for r in replies]
    return [m for m in said if m is not None]


def shipment_answer(*, conversation: Conversation, text: str) -> ChatMessage | None:
    """Answer a message only if it asks where a shipment is (while the chat waits)."""
    question = intents.read(text)
    if conversation.status != ConversationStatus.WAITING or question.intent != intents.SHIPMENT:
        return None
    with translation.override(question.language or _language(conversation)):
        reply = shipment_reply(user=conversation.customer, question=question)
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
