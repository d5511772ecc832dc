"""What the bot says to each question it knows: composed from the owning apps' selectors.

Every function reads only what the customer may see (the selectors scope to the user) and
writes nothing; chat.bot decides when to say it and posts it. Call them inside
`translation.override(language)`: every sentence is a gettext string.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat import intents
from chat.models import Conversation, ConversationStatus
from equipment import selectors as equipment
from knowledge import selectors as knowledge
from logistics import selectors as logistics
from logistics.panels import status_line
from tickets import selectors as tickets
from tickets.models import Status, Weekday

ACTIONS = ["person", "callback", "ticket", "wait"]
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


def _articles_intro() -> str:
    """The line that introduces suggested articles. Their titles are not in the text: the chat
    page shows `articles` (title and link) as a list under the message, so the text names them
    once; the transcript adds them as lines (chat.services.transcript)."""
    return _("These help articles may solve it right away:")


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
            if s.status_text:
                # The carrier's own words, as it sent them (never translated), and labelled so.
                line += " · " + _("Carrier's words:") + " " + s.status_text
            parts.append(line)
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
        parts.append(f"• {line}")
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
        # The titles are not repeated here: the page lists them as links.
        parts.append(_articles_intro())
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


def symptom_articles(
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
    return Reply(_articles_intro(), {"intent": "articles", "articles": _article_rows(articles)})


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
    parts.append(
        _(
            "You are number %(n)s in the queue. Ask for a callback, turn this chat into "
            "a ticket, or wait for the next agent."
        )
        % {"n": position}
    )
    if articles:  # last: the page lists the articles as links right under this line
        parts.append(_articles_intro())
    payload = {
        "intent": "queue",
        "articles": _article_rows(list(articles)),
        "position": position,
        "opens_at": opening.isoformat() if opening else None,
        "actions": ACTIONS,
    }
    return Reply("\n".join(parts), payload)


def reply_to(
    conversation: Conversation, question: intents.Question, language: str, now: dt.datetime
) -> Reply | None:
    """The answer to the question a message asks (chat.intents), or None when it asks none
    the bot knows (or names a fault code the catalogue does not know)."""
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
