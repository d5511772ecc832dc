"""The acknowledgement of a ticket opened by e-mail: its reference, when the first answer is
due, an out-of-hours notice, and a published incident of the sender's region with its
status page (so a customer writing during an outage knows it is known).

Loop protection (RFC 3834): never to a bounce, an automatic answer, a mailing list or a
no-reply address, and at most MAIL_AUTOREPLY_PER_HOUR per sender per hour. Templates per
queue and language: templates/notifications/email/mail_ack_<queue code>.*.txt when it
exists, else mail_ack; in the person's language, else the mail's (Chinese text: zh-hans).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from django.conf import settings
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone

from intake.mail.parse import ParsedMail
from intake.models import InboundMail
from notifications.messages import Message, Recipient, notify
from status.selectors import banners_for
from tickets import links
from tickets.businesstime import is_working
from tickets.models import Ticket
from tickets.models.sla import Clock
from tickets.services.calendars import calendar_spec

_CJK = re.compile(r"[\u4e00-\u9fff]")


def _language(sender: Any, mail: ParsedMail) -> str:
    if getattr(sender, "language", ""):
        return sender.language
    return "zh-hans" if _CJK.search(mail.subject + mail.body) else "en"


def _template(ticket: Ticket) -> str:
    if ticket.queue is not None:
        name = f"mail_ack_{ticket.queue.slug}"
        try:
            get_template(f"notifications/email/{name}.body.txt")
            return name
        except TemplateDoesNotExist:
            pass
    return "mail_ack"


def out_of_hours(ticket: Ticket, now: dt.datetime) -> bool:
    """Outside the working hours of the ticket's SLA calendar (never for a 24/7 policy)."""
    policy = ticket.sla_policy
    if policy is None or policy.clock != Clock.BUSINESS or policy.calendar is None:
        return False
    return not is_working(calendar_spec(policy.calendar), now)


def too_many(sender_bidx: str, now: dt.datetime) -> bool:
    since = now - dt.timedelta(hours=1)
    sent = InboundMail.objects.filter(
        sender_bidx=sender_bidx, auto_replied=True, received_at__gte=since
    ).count()
    return sent >= settings.MAIL_AUTOREPLY_PER_HOUR


def mail_acknowledge(
    *, ticket: Ticket, mail: ParsedMail, message_id: str, sender: Any, sender_bidx: str
) -> bool:
    """Write the acknowledgement to the outbox, threaded under the customer's mail;
    return whether one was written (the caller records it on the InboundMail row).

    It answers a mail, so it goes by e-mail only, to the address the mail came from (a
    stranger filed under an unidentified contact has no account to read channels from),
    through the one notification path with a Recipient described here.
    """
    now = timezone.now()
    if mail.machine_made or not mail.sender:
        return False
    if sender.is_active and not sender.notify_email:
        return False  # a known customer who turned e-mail off
    if too_many(sender_bidx, now):
        return False
    language = _language(sender, mail)
    link = links.customer_ticket_url(ticket) if sender.is_active else ""
    hours_closed = out_of_hours(ticket, now)

    def context(language: str) -> dict[str, Any]:
        # Called with the language active: the incidents' titles come in it.
        incidents = [b for b in banners_for(sender) if b["level"] in ("outage", "degraded")]
        return {
            "ticket": ticket,
            "name": sender.full_name,
            "link": link,
            "out_of_hours": hours_closed,
            "timezone": getattr(sender, "timezone", "") or settings.TIME_ZONE,
            "incidents": [{**b, "link": f"{settings.SITE_URL}{b['link']}"} for b in incidents[:2]],
        }

    headers = {
        "In-Reply-To": message_id,
        "References": " ".join([*mail.references[-9:], message_id]),
        "Auto-Submitted": "auto-replied",  # RFC 3834: other responders do not answer it
    }
    if settings.MAIL_REPLY_ADDRESS:
        headers["Reply-To"] = settings.MAIL_REPLY_ADDRESS
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:40]
    notify(
        to=Recipient(language=language, email=mail.sender),
        message=Message(
            template=_template(ticket),
            key=f"mail-ack:{digest}",
            context=context,
            about=ticket,
            channels=frozenset({"email"}),
            headers=headers,
        ),
    )
    return True
