"""Reads of tickets, always scoped to the asking user."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from accounts.permissions import get_scoped_or_404, is_staff_member, scope_by_organisation
from core import crypto
from tickets.models import Attachment, Message, Ticket


def ticket_list(
    *,
    user: Any,
    status: str | list[str] | None = None,
    search: str = "",
    priority: int | None = None,
    kind: str = "",
    unit: int | None = None,
) -> QuerySet:
    """Return the tickets the user may see, newest first, with the list's joins."""
    qs = scope_by_organisation(
        user,
        Ticket.objects.select_related(
            "organisation", "unit__machine_model", "queue", "assignee", "requester"
        ),
    )
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else status)
    if priority:
        qs = qs.filter(priority=priority)
    if kind:
        qs = qs.filter(kind=kind)
    if unit:
        qs = qs.filter(unit_id=unit)
    if search:
        qs = qs.filter(search_q(search))
    return qs.order_by("-created_at", "-pk")


def search_q(term: str) -> Q:
    """Match a reference, a serial number, a subject, or a requester's exact email."""
    term = term.strip()
    query = Q(reference__iexact=term) | Q(subject__icontains=term)
    query |= Q(unit__serial_number__iexact=term)
    if "@" in term:
        query |= Q(requester__email_bidx=crypto.blind_index("email", term))
    return query


def ticket_get(*, user: Any, pk: Any = None, reference: str | None = None) -> Ticket:
    """Return one ticket with its conversation; internal notes only for staff."""
    lookup = {"pk": pk} if pk is not None else {"reference": reference}
    messages = Message.objects.select_related("author").prefetch_related("attachments")
    if not is_staff_member(user):
        messages = messages.filter(internal=False)
    qs = Ticket.objects.select_related(
        "organisation",
        "requester",
        "unit__machine_model",
        "queue",
        "assignee",
        "fault_report__fault_code",
    ).prefetch_related(Prefetch("messages", queryset=messages), "tags")
    return get_scoped_or_404(user, qs, **lookup)


def attachment_get(*, user: Any, pk: int) -> Attachment:
    """Return an attachment of a ticket the user may see; internal ones only for staff."""
    qs = Attachment.objects.select_related("ticket", "message")
    if not is_staff_member(user):
        qs = qs.filter(Q(message__isnull=True) | Q(message__internal=False))
    return get_scoped_or_404(user, qs, org_field="ticket__organisation", pk=pk)
