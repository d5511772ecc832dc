"""Reads of the chat app for other apps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from accounts.permissions import scope_by_organisation
from chat.models import ChatAttachment, ChatMessage, Conversation, ConversationStatus
from equipment.models import WarrantyStatus
from equipment.selectors import unit_list
from logistics.selectors import shipment_list
from tickets.models import ACTIVE_STATUSES
from tickets.selectors import member_queue_ids, ticket_list

# How many rows of each kind the console's customer panel shows (the count says the rest).
CONTEXT_ROWS = 5


def console_scope(user: Any, queryset: QuerySet) -> QuerySet:
    """The chats of the agent's queues, those they supervise and their own (on top of the
    region scope every customer screen has): the console's list and the home's block."""
    if user.is_superuser:
        return queryset
    queues = member_queue_ids(agent=user)
    return queryset.filter(Q(queue_id__in=queues) | Q(queue__supervisor=user) | Q(agent=user))


def waiting_chats(*, user: Any, limit: int = CONTEXT_ROWS) -> tuple[int, list[Conversation]]:
    """(how many, the longest waiting few) chats waiting for an agent that the user may take;
    two queries."""
    waiting = console_scope(
        user,
        scope_by_organisation(user, Conversation.objects.filter(status=ConversationStatus.WAITING)),
    )
    rows = waiting.select_related("organisation").order_by("created_at", "pk")[:limit]
    return waiting.count(), list(rows)


def customer_context(*, user: Any, conversation: Conversation) -> dict[str, Any]:
    """What the desk knows of the chat's customer, for the panel beside the console: their
    organisation's open tickets, machines with their warranty, shipments under way, and the
    customer's other recent chats. Each list is a count and the first few rows, read through
    the owning app's selectors scoped to the agent: ten queries however much there is."""
    organisation_id = conversation.organisation_id
    tickets = ticket_list(user=user, status=list(ACTIVE_STATUSES)).filter(
        organisation_id=organisation_id
    )
    units = unit_list(user=user).filter(organisation_id=organisation_id)
    shipments = shipment_list(user=user, active_only=True).filter(organisation_id=organisation_id)
    chats = (
        scope_by_organisation(
            user, Conversation.objects.filter(customer_id=conversation.customer_id)
        )
        .exclude(pk=conversation.pk)
        .order_by("-created_at", "-pk")
    )
    unit_rows = list(units.order_by("serial_number", "pk")[:CONTEXT_ROWS])
    for unit in unit_rows:
        unit.warranty_label = WarrantyStatus(unit.warranty).label
    return {
        "tickets": list(
            tickets.select_related(None)
            .select_related("sla_policy__calendar")
            .order_by("priority", "-created_at", "-pk")[:CONTEXT_ROWS]
        ),
        "tickets_count": tickets.count(),
        "units": unit_rows,
        "units_count": units.count(),
        "shipments": list(shipments[:CONTEXT_ROWS]),
        "shipments_count": shipments.count(),
        "chats": list(chats[:CONTEXT_ROWS]),
        "chats_count": chats.count(),
    }


def organisations_with_chats(
    *, start: dt.datetime, end: dt.datetime, region_ids: list[int] | None
) -> Any:
    """(organisation id, tier) of every chat started in a window by customers of active
    organisations in these regions (None: all), one row per chat, in one query."""
    chats = Conversation.objects.filter(
        created_at__gte=start, created_at__lte=end, organisation__is_active=True
    )
    if region_ids is not None:
        chats = chats.filter(organisation__region_id__in=region_ids)
    return chats.order_by("organisation_id").values_list("organisation_id", "organisation__tier")


def person_chats(user: Any) -> list[dict[str, Any]]:
    """The person's chats for a data-subject export: the desk's side appears as "WeldDesk"."""
    found = []
    chats = Conversation.objects.filter(customer=user).order_by("created_at")
    ordered = Prefetch("messages", queryset=ChatMessage.objects.order_by("seq"))
    for conversation in chats.prefetch_related(ordered):
        messages = conversation.messages.all()
        found.append(
            {
                "started": conversation.created_at,
                "closed": conversation.closed_at,
                "rating": conversation.rating,
                "rating_comment": conversation.rating_comment,
                "messages": [
                    {
                        "from": "you"
                        if m.sender_id == user.pk
                        else ("bot" if m.is_bot else "WeldDesk"),
                        "at": m.created_at,
                        "body": m.body,
                    }
                    for m in messages
                ],
            }
        )
    return found


def person_uploads(user: Any) -> list[tuple[str, Any]]:
    """(archive name, file) of every chat attachment the person uploaded."""
    return [
        (f"attachments/chats/{a.pk}-{a.original_name}", a.file)
        for a in ChatAttachment.objects.filter(uploaded_by=user).order_by("pk")
    ]
