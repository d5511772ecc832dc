"""Absolute links put into notifications."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse


def customer_ticket_url(ticket) -> str:
    # The portal's ticket page (issue 4); until then the survey and API are the customer's way.
    return f"{settings.SITE_URL}/portal/tickets/{ticket.reference}/"


def api_ticket_url(ticket) -> str:
    """The ticket in the partner API (its messages and files), for a partner's system."""
    return settings.SITE_URL + reverse("api-ticket", kwargs={"reference": ticket.reference})


def agent_ticket_url(ticket_id: int) -> str:
    return settings.SITE_URL + reverse("admin:tickets_ticket_change", args=[ticket_id])


def survey_url(token: str, score: int | None = None) -> str:
    url = settings.SITE_URL + reverse("tickets:survey", args=[token])
    return f"{url}?score={score}" if score else url
