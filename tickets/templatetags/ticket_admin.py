"""Template tags of the agents' workspace in the admin."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.admin.templatetags.admin_list import result_headers, result_hidden_fields

from tickets.admin_list import ticket_rows

register = template.Library()


@register.inclusion_tag("admin/tickets/ticket/change_list_results.html")
def ticket_result_list(cl) -> dict[str, Any]:
    """Django's {% result_list %} with the rows of tickets.admin_list.ticket_rows."""
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": list(ticket_rows(cl)),
    }


@register.inclusion_tag("admin/tickets/ticket/_live.html")
def desk_live(ticket=None) -> dict[str, Any]:
    """The live layer's settings for static/tickets/live.js (the list, or a ticket's page)."""
    from tickets.admin_live import live_context

    return {"ticket": ticket, **live_context(ticket=ticket)}
