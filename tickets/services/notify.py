"""Ticket notifications, written to the outbox in the caller's transaction: to people (by the
channels they chose) and to the organisation's own systems (its webhook endpoints)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts import selectors as account_selectors
from notifications import messages
from notifications.messages import (
    Event,
    EventType,
    Message,
    answer_on_platform,
    notify,
    notify_organisation,
)
from tickets import links
from tickets.models import Channel, Status, Target, Ticket

# Apps above tickets that know Message-IDs of a ticket's mail thread register a reader here
# (intake: the mails received), so ticket e-mail answers the customer's own mail.
THREAD_SOURCES: list[Callable[[Ticket], list[str]]] = []


def mail_headers(ticket: Ticket | None) -> dict[str, str]:
    """Reply-To (MAIL_REPLY_ADDRESS) and, for a ticket that came by e-mail, In-Reply-To and
    References naming the mails received on it, so the customer's mail program threads the
    answer and their next reply finds the ticket (docs/email.md)."""
    headers = {"Reply-To": settings.MAIL_REPLY_ADDRESS} if settings.MAIL_REPLY_ADDRESS else {}
    if ticket is not None and ticket.channel == "email":
        ids = [mid for source in THREAD_SOURCES for mid in source(ticket)]
        if ids:
            headers["In-Reply-To"] = ids[-1]
            headers["References"] = " ".join(ids[-10:])
    return headers


def _tell(
    *,
    key: str,
    template: str,
    recipient: Any,
    context: Any,
    about: Ticket | None,
    url: str = "",
    hand_over: bool = True,
    batch: Any = None,
) -> list[int]:
    """Tell one person about a ticket by the channels notifications reads from their profile;
    return the outbox row ids (none when nobody can receive it)."""
    if recipient is None:
        return []
    message = Message(
        template=template,
        key=key,
        context=context,
        about=about,
        url=url,
        tag=f"ticket-{about.pk}" if about is not None else "",
        headers={} if recipient.is_staff else mail_headers(about),
    )
    return notify(to=recipient, message=message, hand_over=hand_over, batch=batch)


def notify_opened(ticket: Ticket, *, batch: Any = None) -> None:
    link = links.customer_ticket_url(ticket)

    def context(language: str) -> dict:
        return {
            "ticket": ticket,
            "link": link,
            "short": gettext("WeldDesk %(ref)s: we received your request. %(link)s")
            % {"ref": ticket.reference, "link": link},
        }

    _tell(
        key=f"ticket-opened:{ticket.pk}",
        template="ticket_opened",
        recipient=ticket.requester,
        context=context,
        about=ticket,
        url=link,
        batch=batch,
    )


def notify_reply(ticket: Ticket, *, message_id: int, body: str) -> None:
    """The usual notice of an answer; for a ticket that came by WeChat or WeCom the answer
    itself goes back there too (notifications decides where and whether it still can)."""
    link = links.customer_ticket_url(ticket)
    if ticket.channel == Channel.WECOM:
        answer_on_platform(
            to=ticket.requester,
            text=f"[{ticket.reference}] {body}",
            key=f"ticket-answer:{message_id}",
            about=ticket,
        )

    def context(language: str) -> dict:
        return {
            "ticket": ticket,
            "body": body,
            "link": link,
            "short": gettext("WeldDesk %(ref)s: the service desk answered. %(link)s")
            % {"ref": ticket.reference, "link": link},
        }

    _tell(
        key=f"ticket-reply:{message_id}",
        template="ticket_reply",
        recipient=ticket.requester,
        context=context,
        about=ticket,
        url=link,
    )


def notify_status(ticket: Ticket, *, version: int, survey_token: str | None = None) -> None:
    """The new status, with the satisfaction survey's links when the ticket was resolved."""
    link = links.customer_ticket_url(ticket)
    survey_links = (
        [(n, links.survey_url(survey_token, n)) for n in range(1, 6)] if survey_token else []
    )

    def context(language: str) -> dict:
        status = str(Status(ticket.status).label)
        return {
            "ticket": ticket,
            "status": status,
            "survey_links": survey_links,
            "reopen_days": settings.TICKET_REOPEN_DAYS,
            "link": link,
            "short": gettext("WeldDesk %(ref)s is now: %(status)s. %(link)s")
            % {"ref": ticket.reference, "status": status, "link": link},
        }

    _tell(
        key=f"ticket-status:{ticket.pk}:{version}",
        template="ticket_status",
        recipient=ticket.requester,
        context=context,
        about=ticket,
        url=link,
    )


def notify_assigned(ticket: Ticket, *, agent: Any, version: int, batch: Any = None) -> None:
    """Tell the agent a ticket is theirs (`batch`: written with the caller's rows)."""
    _tell(
        key=f"ticket-assigned:{ticket.pk}:{version}:{agent.pk}",
        template="ticket_assigned",
        recipient=agent,
        context={"ticket": ticket, "link": links.agent_ticket_url(ticket.pk)},
        about=ticket,
        batch=batch,
    )


def notify_flagged(ticket: Ticket, *, tag: str, note: str) -> None:
    """Tell the assignee (else the queue's supervisor) why a ticket was flagged."""
    recipient = ticket.assignee or (ticket.queue.supervisor if ticket.queue_id else None)
    _tell(
        key=f"ticket-flagged:{ticket.pk}:{tag}",
        template="ticket_flagged",
        recipient=recipient,
        context={"ticket": ticket, "note": note, "link": links.agent_ticket_url(ticket.pk)},
        about=ticket,
    )


def notify_safety_risk(ticket: Ticket) -> list[int]:
    """Tell the supervisors at once that a customer reported a safety risk.

    Recipients: the supervisor of the ticket's queue and the supervisors of the customer's
    region (every supervisor when no one looks after the region). The one place that names
    them and composes the message; notifications delivers it (e-mail, and an SMS to a
    supervisor's phone: the message is urgent). Returns the outbox row ids.
    """
    recipients = account_selectors.supervisors_of_region(ticket.organisation.region_id)
    queue_supervisor = ticket.queue.supervisor if ticket.queue_id else None
    if queue_supervisor is not None and queue_supervisor not in recipients:
        recipients.insert(0, queue_supervisor)
    report = getattr(ticket, "fault_report", None)
    link = links.agent_ticket_url(ticket.pk)

    def context(language: str) -> dict:
        return {
            "ticket": ticket,
            "report": report,
            "link": link,
            "short": gettext("WeldDesk %(ref)s: a customer reports a safety risk. %(link)s")
            % {"ref": ticket.reference, "link": link},
        }

    written: list[int] = []
    for person in recipients:
        message = Message(
            template="ticket_safety_risk",
            key=f"ticket-safety:{ticket.pk}:{person.pk}",
            context=context,
            about=ticket,
            # A person may be in danger: the supervisor's phone too, not only the inbox.
            urgent=True,
        )
        written.extend(notify(to=person, message=message))
    return written


def notify_escalations(notices: Sequence[dict[str, Any]]) -> list[int]:
    """Write the notices of one SLA scan in a few multi-row inserts, not one statement each;
    return the outbox row ids. Each notice is a dict: `key` (the outbox key), `recipient`,
    `items` (its lines), and optionally `total` and `more_links`.

    Each item is raw (`target` a Target value, `due` an instant); its line is put into the
    recipient's language and time zone here, with the labels translated once per notice,
    rather than by template tags and filters once per line (a scan sends hundreds of lines).
    `total` counts every ticket of the notice (default: the listed ones); `more_links` lead
    to the list of those not shown.
    """
    messages_: list[tuple[Any, Message]] = []
    for notice in notices:
        recipient, items = notice["recipient"], notice["items"]
        if recipient is None or not recipient.is_active or not recipient.email:
            continue
        zone = _zone(recipient.timezone)
        with translation.override(recipient.language or settings.LANGUAGE_CODE):
            labels = {value: str(label) for value, label in Target.choices}
            due = gettext("due")
        lines = [
            f"{item['reference']} [{item['priority']}] "
            f"{labels.get(item['target'], item['target'])} "
            f"{item['percent']}% — {due} {_at(item['due'], zone)}\n  {item['link']}"
            for item in items
        ]
        total = notice.get("total")
        total = len(items) if total is None else total
        message = Message(
            template="sla_escalation",
            key=notice["key"],
            context={
                "lines": lines,
                "total": total,
                "more": total - len(items),
                "more_links": list(notice.get("more_links", ())),
            },
            headers={} if recipient.is_staff else mail_headers(None),
        )
        messages_.append((recipient, message))
    return messages.notify_many(messages_, hand_over=False)


def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def _at(instant: dt.datetime | None, zone: tzinfo) -> str:
    """Format as the template filter `date:"Y-m-d H:i T"` would in that zone."""
    if instant is None:
        return ""
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


# ------------------------------------------------------------------- organisation events


def _ticket_data(ticket: Ticket, now: dt.datetime) -> dict[str, Any]:
    """What a partner's system hears of its organisation's ticket (docs/webhooks.md): the
    ticket's facts as the partner API names them, no person (requester, agent) and no message
    text (the API gives those to the organisation's key)."""

    def at(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "reference": ticket.reference,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "kind": ticket.kind,
        "organisation": ticket.organisation_id,
        # The unit is read with the ticket (tickets.services.tickets._lock): no query here.
        "unit": ticket.unit.serial_number if ticket.unit_id else None,
        "version": ticket.version,
        "created_at": at(ticket.created_at),
        "updated_at": at(ticket.updated_at or now),
        "resolved_at": at(ticket.resolved_at),
        "closed_at": at(ticket.closed_at),
        "url": links.customer_ticket_url(ticket),
        "api_url": links.api_ticket_url(ticket),
    }


def tell_organisation(
    ticket: Ticket,
    *,
    now: dt.datetime,
    opened: bool = False,
    answered: Any = None,
    previous_status: str | None = None,
    batch: Any = None,
) -> None:
    """Name what one write did to the ticket, for its organisation's systems: opened, an
    agent's public answer (`answered`: the message), a status change (from
    `previous_status`; a resolution is also `ticket.resolved`). notifications decides which
    endpoints hear of it; this writes one outbox row, or queues it in `batch`."""
    data = {"ticket": _ticket_data(ticket, now)}
    status_data = {**data, "previous_status": previous_status}
    events = []
    if opened:
        events.append(Event(type=EventType.TICKET_OPENED, data=data, occurred_at=now))
    if answered is not None:
        message = {"id": answered.pk, "created_at": answered.created_at.isoformat()}
        events.append(
            Event(
                type=EventType.TICKET_ANSWERED,
                data={**data, "message": message},
                occurred_at=now,
            )
        )
    if previous_status is not None and previous_status != ticket.status:
        events.append(
            Event(type=EventType.TICKET_STATUS_CHANGED, data=status_data, occurred_at=now)
        )
        if ticket.status == Status.RESOLVED:
            events.append(Event(type=EventType.TICKET_RESOLVED, data=status_data, occurred_at=now))
    notify_organisation(
        organisation_id=ticket.organisation_id,
        key=f"ticket:{ticket.pk}:v{ticket.version}",
        events=events,
        about=ticket,
        batch=batch,
    )


def hand_over(outbox_ids: list[int]) -> None:
    """Hand notices written with hand_over=False to the workers after commit, in batches."""
    messages.hand_over(outbox_ids)
