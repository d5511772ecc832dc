"""Live events of ticket writes: which tickets changed, told to the desk after commit.

The agents' workspace socket (tickets.consumers.WorkspaceConsumer) joins one group per region
the agent works for, or `desk.all` for staff who see every region. A write tells the groups
that may see the ticket *which* ticket changed and how (`what`), never what it now says: the
page fetches the rows or messages over HTTP with the agent's own scope (tickets.admin_live),
so one rendering path and one access check serve the page and its live updates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from django.db import transaction

from core.realtime import publish_now, publish_on_commit
from tickets.services.idsets import among

DESK_ALL = "desk.all"
EVENT = "desk.tickets"  # handled by WorkspaceConsumer.desk_tickets
CHUNK = 200  # ids per event of a bulk change (the SLA scan)


def region_group(region_id: int) -> str:
    return f"desk.region.{region_id}"


def groups_for(region_id: int | None) -> list[str]:
    """The groups that may hear of a ticket of this region: everyone who sees all regions,
    and the agents of the region (a ticket without a region is seen only by the former)."""
    return [DESK_ALL] if region_id is None else [DESK_ALL, region_group(region_id)]


def _cached_region(ticket: Any) -> tuple[bool, int | None]:
    """The ticket's region if its organisation is already loaded (no query)."""
    organisation = ticket._state.fields_cache.get("organisation")
    if organisation is None:
        return False, None
    return True, organisation.region_id


def _regions(ticket_ids: Iterable[int]) -> dict[int, int | None]:
    from tickets.models import Ticket

    return dict(
        Ticket.objects.filter(pk__in=among(ticket_ids))
        .order_by()
        .values_list("pk", "organisation__region_id")
    )


def _send(ticket_id: int, known: bool, region_id: int | None, frame: dict) -> None:
    if not known:
        region_id = _regions([ticket_id]).get(ticket_id)
    for group in groups_for(region_id):
        publish_now(group, {"type": EVENT, "frame": frame})


def ticket_changed(ticket: Any, what: str) -> None:
    """After commit, tell the desk that this ticket changed (`what`: opened, message, status,
    priority, assignee, fields, merged, flagged) and its version now."""
    known, region_id = _cached_region(ticket)
    frame = {"type": "tickets", "ids": [ticket.pk], "what": what, "v": ticket.version}
    if known:
        # Sent with the write's other hand-overs when the writer batches them.
        for group in groups_for(region_id):
            publish_on_commit(group, {"type": EVENT, "frame": frame})
        return
    transaction.on_commit(partial(_send, ticket.pk, known, region_id, frame))


def _send_many(
    ticket_ids: list[int], what: str, regions: Mapping[int, int | None] | None = None
) -> None:
    by_region: dict[int | None, list[int]] = defaultdict(list)
    if regions is None:
        regions = _regions(ticket_ids)
    for pk, region_id in sorted((pk, regions[pk]) for pk in ticket_ids if pk in regions):
        by_region[region_id].append(pk)
    everyone: list[int] = []
    for region_id, ids in by_region.items():
        everyone += ids
        if region_id is not None:
            for start in range(0, len(ids), CHUNK):
                frame = {"type": "tickets", "ids": ids[start : start + CHUNK], "what": what}
                publish_now(region_group(region_id), {"type": EVENT, "frame": frame})
    for start in range(0, len(everyone), CHUNK):
        frame = {"type": "tickets", "ids": everyone[start : start + CHUNK], "what": what}
        publish_now(DESK_ALL, {"type": EVENT, "frame": frame})


def tickets_changed(
    ticket_ids: Iterable[int], what: str, *, regions: Mapping[int, int | None] | None = None
) -> None:
    """After commit, tell the desk that these tickets changed (the SLA scan's warnings,
    breaches and escalations): one event per region and chunk. The caller passes the
    tickets' regions if it read them already (the scan, with its lock), else they are read
    after commit."""
    ids = sorted(set(ticket_ids))
    if ids:
        transaction.on_commit(partial(_send_many, ids, what, regions))
