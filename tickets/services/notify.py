"""Ticket notifications, written to the outbox in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from notifications.models import Channel
from notifications.services import notification_enqueue, outbox_hand_over, render_message
from tickets import links
from tickets.models import Status, Target, Ticket

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


def _send(
    *,
    key: str,
    template: str,
    recipient: Any,
    context: dict,
    about: Ticket | None,
    hand_over: bool = True,
) -> int | None:
    """Write the e-mail to the outbox; return its row id (None when nobody can receive it).

    A customer who turned e-mail off in their profile gets none; staff always do.
    """
    if recipient is None or not recipient.is_active or not recipient.email:
        return None
    if not recipient.is_staff and not getattr(recipient, "notify_email", True):
        return None
    subject, body = render_message(
        f"email/{template}", {**context, "recipient": recipient}, language=recipient.language
    )
    row = notification_enqueue(
        key=key,
        channel=Channel.EMAIL,
        recipient=recipient.email,
        subject=subject,
        body=body,
        language=recipient.language,
        about=about,
        hand_over=hand_over,
        headers=None if recipient.is_staff else mail_headers(about),
    )
    return row.pk


def notify_opened(ticket: Ticket) -> None:
    _send(
        key=f"ticket-opened:{ticket.pk}",
        template="ticket_opened",
        recipient=ticket.requester,
        context={"ticket": ticket, "link": links.customer_ticket_url(ticket)},
        about=ticket,
    )


def _short(*, key: str, recipient: Any, text: str, about: Ticket) -> list[int]:
    """A short message to a customer by the channels they asked for in their profile: SMS
    (with a number) and WeCom (with a WeCom ID). Returns the outbox row ids."""
    if recipient is None or recipient.is_staff or not recipient.is_active:
        return []
    wanted = []
    if getattr(recipient, "notify_sms", False) and recipient.phone:
        wanted.append((Channel.SMS, recipient.phone, key))
    if getattr(recipient, "notify_wecom", False) and recipient.wecom_id:
        wanted.append((Channel.WECOM, recipient.wecom_id, key.replace("-sms:", "-wecom:")))
    return [
        notification_enqueue(
            key=row_key,
            channel=channel,
            recipient=address,
            body=text,
            language=recipient.language,
            about=about,
        ).pk
        for channel, address, row_key in wanted
    ]


def notify_reply(ticket: Ticket, *, message_id: int, body: str) -> None:
    _send(
        key=f"ticket-reply:{message_id}",
        template="ticket_reply",
        recipient=ticket.requester,
        context={"ticket": ticket, "body": body, "link": links.customer_ticket_url(ticket)},
        about=ticket,
    )
    recipient = ticket.requester
    if recipient is not None:
        with translation.override(recipient.language or settings.LANGUAGE_CODE):
            text = gettext("WeldDesk %(ref)s: the service desk answered. %(link)s") % {
                "ref": ticket.reference,
                "link": links.customer_ticket_url(ticket),
            }
        _short(key=f"ticket-reply-sms:{message_id}", recipient=recipient, text=text, about=ticket)


def notify_status(ticket: Ticket, *, version: int, survey_token: str | None = None) -> None:
    recipient = ticket.requester
    if recipient is None:
        return
    with translation.override(recipient.language or settings.LANGUAGE_CODE):
        status = str(Status(ticket.status).label)
        text = gettext("WeldDesk %(ref)s is now: %(status)s. %(link)s") % {
            "ref": ticket.reference,
            "status": status,
            "link": links.customer_ticket_url(ticket),
        }
    _short(
        key=f"ticket-status-sms:{ticket.pk}:{version}", recipient=recipient, text=text, about=ticket
    )
    survey_links = (
        [(n, links.survey_url(survey_token, n)) for n in range(1, 6)] if survey_token else []
    )
    _send(
        key=f"ticket-status:{ticket.pk}:{version}",
        template="ticket_status",
        recipient=recipient,
        context={
            "ticket": ticket,
            "status": status,
            "survey_links": survey_links,
            "reopen_days": settings.TICKET_REOPEN_DAYS,
            "link": links.customer_ticket_url(ticket),
        },
        about=ticket,
    )


def notify_assigned(ticket: Ticket, *, agent: Any, version: int) -> None:
    _send(
        key=f"ticket-assigned:{ticket.pk}:{version}:{agent.pk}",
        template="ticket_assigned",
        recipient=agent,
        context={"ticket": ticket, "link": links.agent_ticket_url(ticket.pk)},
        about=ticket,
    )


def notify_flagged(ticket: Ticket, *, tag: str, note: str) -> None:
    """Tell the assignee (else the queue's supervisor) why a ticket was flagged."""
    recipient = ticket.assignee or (ticket.queue.supervisor if ticket.queue_id else None)
    _send(
        key=f"ticket-flagged:{ticket.pk}:{tag}",
        template="ticket_flagged",
        recipient=recipient,
        context={"ticket": ticket, "note": note, "link": links.agent_ticket_url(ticket.pk)},
        about=ticket,
    )


def notify_escalation(
    *,
    key: str,
    recipient: Any,
    items: list[dict],
    total: int | None = None,
    more_links: Sequence[str] = (),
) -> int | None:
    """Tell one person which tickets an SLA scan escalated: the listed ones and how many more.

    Each item is raw (`target` a Target value, `due` an instant); its line is put into the
    recipient's language and time zone here, with the labels translated once per notice,
    rather than by template tags and filters once per line (a scan sends hundreds of lines).
    `total` counts every ticket of the notice (default: the listed ones); `more_links` lead
    to the list of those not shown. Returns the outbox row's id, for the caller to hand over
    with the run's other notices (`outbox_hand_over`), or None.
    """
    if recipient is None or not recipient.is_active or not recipient.email:
        return None
    zone = _zone(recipient.timezone)
    with translation.override(recipient.language or settings.LANGUAGE_CODE):
        labels = {value: str(label) for value, label in Target.choices}
        due = gettext("due")
    lines = [
        f"{item['reference']} [{item['priority']}] {labels.get(item['target'], item['target'])} "
        f"{item['percent']}% — {due} {_at(item['due'], zone)}\n  {item['link']}"
        for item in items
    ]
    total = len(items) if total is None else total
    return _send(
        key=key,
        template="sla_escalation",
        recipient=recipient,
        context={
            "lines": lines,
            "total": total,
            "more": total - len(items),
            "more_links": list(more_links),
        },
        about=None,
        hand_over=False,
    )


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


def hand_over(outbox_ids: list[int]) -> None:
    """Hand notices written with hand_over=False to the workers after commit, in batches."""
    outbox_hand_over(outbox_ids)
