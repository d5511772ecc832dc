"""The incident block of the agents' home (core.home): incidents not yet resolved."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _

from core.home import Block, Row
from status import selectors


def incident_blocks(request: Any) -> list[Block]:
    """Active incidents (investigating, identified, monitoring), newest first. Incidents are
    the desk's own record of an outage, not customer data, so every agent sees them all."""
    if not request.user.has_perm("status.view_incident"):
        return []
    count, incidents = selectors.active_incidents()
    rows = [
        Row(
            text=incident.title,
            url=reverse("admin:status_incident_change", args=[incident.pk]),
            note=f"{incident.severity.name} · {incident.get_state_display()}",
        )
        for incident in incidents
    ]
    query = urlencode({"state__in": ",".join(selectors.ACTIVE_INCIDENT_STATES)})
    return [
        Block(
            key="status-incidents",
            title=_("Active incidents"),
            count=count,
            rows=rows,
            link=f"{reverse('admin:status_incident_changelist')}?{query}",
            link_text=_("Show the incidents"),
            empty=_("No active incidents."),
            order=60,
        )
    ]
