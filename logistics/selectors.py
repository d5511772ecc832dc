"""Reads of logistics, always scoped to the asking user."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from accounts.permissions import get_scoped_or_404, scope_by_organisation, scoped_among
from logistics.models import FINAL_STATUSES, Shipment, TrackingEvent

# The chat bot names at most this many shipments in one answer.
ASKED_SHIPMENTS = 5


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


def shipments_asked_about(
    *, user: Any, tracking_numbers: Any = (), references: Any = ()
) -> list[Shipment]:
    """The shipments a customer asks about in a chat: by tracking number or by the reference
    of a ticket they belong to (another organisation's are left out like missing ones, a
    refused tracking number audited); without a number, their shipments still under way.
    At most ASKED_SHIPMENTS (three under way); a few queries whatever the tables hold."""
    found: list[Shipment] = []
    if tracking_numbers:
        found += scoped_among(
            user,
            Shipment.objects.all(),
            field="tracking_number",
            values=list(tracking_numbers)[:ASKED_SHIPMENTS],
        )
    if references:
        mine = shipment_list(user=user)
        found += list(
            mine.filter(tickets__reference__in=list(references)[:ASKED_SHIPMENTS]).distinct()[
                :ASKED_SHIPMENTS
            ]
        )
    if tracking_numbers or references:
        unique = {s.pk: s for s in found}
        return list(unique.values())[:ASKED_SHIPMENTS]
    return list(shipment_list(user=user, active_only=True)[:3])


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
