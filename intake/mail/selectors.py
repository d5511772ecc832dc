"""Reads for inbound mail: which ticket a mail answers, and a ticket's received Message-IDs."""

from __future__ import annotations

import re

from intake.mail.parse import ParsedMail
from intake.models import InboundMail
from notifications.selectors import about_of_message_ids
from tickets.models import Ticket
from tickets.selectors import ticket_by_pk, ticket_by_reference

REFERENCE = re.compile(r"\bWD-\d{4}-\d{6}\b", re.I)
TICKET_LABEL = "tickets.ticket"


def thread_ticket(mail: ParsedMail) -> tuple[Ticket | None, str]:
    """The ticket a mail answers and how it was found ("header", "subject" or "").

    The Message-IDs it answers (In-Reply-To first, then References from the newest) are
    looked up among the mails the desk received and the ticket e-mails it sent (two
    queries); the nearest one that names a ticket wins. Without one, a reference
    (WD-yyyy-nnnnnn) in the subject. A merged ticket leads to the one it was merged into.
    """
    ids = mail.thread_ids
    ticket_id = None
    how = ""
    if ids:
        found: dict[str, int] = dict(
            InboundMail.objects.filter(message_id__in=ids, ticket__isnull=False).values_list(
                "message_id", "ticket_id"
            )
        )
        for mid, (about_type, about_id) in about_of_message_ids(ids).items():
            if about_type == TICKET_LABEL and about_id.isdigit():
                found.setdefault(mid, int(about_id))
        for mid in ids:
            if mid in found:
                ticket_id, how = found[mid], "header"
                break
    ticket = ticket_by_pk(ticket_id) if ticket_id else None
    if ticket is None:
        match = REFERENCE.search(mail.subject)
        ticket = ticket_by_reference(match.group(0)) if match else None
        how = "subject" if ticket is not None else ""
    seen = 0
    while ticket is not None and ticket.merged_into_id and seen < 10:
        ticket, seen = ticket.merged_into, seen + 1
    return ticket, how


def received_ids(ticket: Ticket) -> list[str]:
    """The Message-IDs of the mails received on a ticket, oldest first (at most 20)."""
    rows = InboundMail.objects.filter(ticket=ticket).order_by("-received_at", "-pk")
    return list(reversed(rows.values_list("message_id", flat=True)[:20]))
