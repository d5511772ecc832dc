"""The shipments panel on the agents' ticket page (registered in tickets.panels)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from logistics import selectors


def status_line(shipment: Any) -> str:
    """ "In transit · Hangzhou hub · 2026-12-04 10:20", plus lateness."""
    parts = [shipment.get_status_display()]
    if shipment.place:
        parts.append(shipment.place)
    if shipment.status_at:
        parts.append(timezone.localtime(shipment.status_at).strftime("%Y-%m-%d %H:%M"))
    if shipment.is_late():
        parts.append(_("late: expected %(day)s") % {"day": shipment.expected_on})
    return " · ".join(parts)


def ticket_shipments(ticket: Any, request: Any) -> dict[str, Any] | None:
    user = request.user
    if not user.has_perm("logistics.view_shipment"):
        return None
    rows = [
        (
            f"{s.get_kind_display()} {s.tracking_number}",
            status_line(s),
            reverse("admin:logistics_shipment_change", args=[s.pk]),
        )
        for s in selectors.shipments_for_ticket(ticket=ticket)
    ]
    add = ""
    if user.has_perm("logistics.add_shipment") and ticket.is_active:
        add = reverse("admin:logistics_shipment_add") + f"?ticket={ticket.pk}"
    return {
        "title": _("Shipments"),
        "rows": rows,
        "empty": _("No shipment for this ticket."),
        "add_url": add,
        "add_label": _("Add a shipment"),
    }
