"""Reads of the WeChat/WeCom intake: where a sender's messages went before."""

from __future__ import annotations

from accounts.models import PlatformIdentity, User
from intake.models import PlatformMessage
from tickets.models import ACTIVE_STATUSES, Ticket


def open_ticket_of(*, identity: PlatformIdentity, requester: User) -> Ticket | None:
    """The ticket this sender's latest platform message was added to, if it is still open and
    still the requester's (a sender who bound their account since starts on their own)."""
    latest = (
        PlatformMessage.objects.filter(identity=identity, ticket__isnull=False)
        .select_related("ticket")
        .order_by("-received_at", "-pk")
        .first()
    )
    if latest is None:
        return None
    ticket = latest.ticket
    if ticket.status not in ACTIVE_STATUSES or ticket.requester_id != requester.pk:
        return None
    return ticket
