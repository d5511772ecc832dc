"""Reads of logistics, always scoped to the asking user."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Prefetch, QuerySet

from accounts.permissions import get_scoped_or_404, scope_by_organisation
from logistics.models import FINAL_STATUSES, Shipment, TrackingEvent

# Numbers in a chat message; Chinese characters count as word characters, so the edges are
# "not a letter, digit or dash" rather than \b ("我的快递SF1234567890到哪了").
TICKET_IN_TEXT = re.compile(r"(?<![A-Za-z0-9-])(WD-\d{4}-\d{4,8})(?![A-Za-z0-9-])", re.I)
TRACKING_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9-])([A-Za-z]{0,6}-?\d[A-Za-z0-9-]{3,38})(?![A-Za-z0-9-])"
)


def shipment_list(*, user: Any, active_only: bool = False) -> QuerySet[Shipment]:
    shipments = scope_by_organisation(user, Shipment.objects.all())
    if active_only:
        shipments = shipments.exclude(status__in=FINAL_STATUSES)
    return shipments.order_by("-created_at", "-pk")


def shipment_get(*, user: Any, pk: Any) -> Shipment:
    """One shipment with its timeline (newest first) and tickets; a foreign one is a 404."""
    events = Prefetch("events", queryset=TrackingEvent.objects.order_by("-at", "-pk"))
    return get_scoped_or_404(
        user,
        Shipment.objects.prefetch_related(events, "tickets", "units"),
        pk=pk,
    )


def shipments_for_ticket(*, ticket: Any) -> list[Shipment]:
    return list(Shipment.objects.filter(tickets=ticket).order_by("-created_at", "-pk"))


def shipments_asked_about(*, user: Any, text: str) -> list[Shipment]:
    """The shipments a customer's chat message names by tracking or ticket number; without a
    number, their shipments still under way (at most three)."""
    mine = shipment_list(user=user)
    tickets = {m.upper() for m in TICKET_IN_TEXT.findall(text)}
    numbers = {m.upper() for m in TRACKING_IN_TEXT.findall(TICKET_IN_TEXT.sub(" ", text))}
    found: list[Shipment] = []
    if numbers:
        found += list(mine.filter(tracking_number__in=numbers))
    if tickets:
        found += list(mine.filter(tickets__reference__in=tickets).distinct())
    if numbers or tickets:
        unique = {s.pk: s for s in found}
        return list(unique.values())[:5]
    return list(mine.exclude(status__in=FINAL_STATUSES)[:3])


def person_shipments(user: Any) -> list[dict[str, Any]]:
    """The shipments of the tickets the person asked for, with their delivery details."""
    found = Shipment.objects.filter(tickets__requester=user).distinct().order_by("created_at")
    return [
        {
            "tracking_number": s.tracking_number,
            "kind": s.kind,
            "status": s.status,
            "delivery_address": s.delivery_address,
            "items": s.items,
            "sent": s.created_at,
            "delivered": s.delivered_at,
        }
        for s in found
    ]
