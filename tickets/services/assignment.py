"""Routing to a queue and automatic assignment to the least-busy agent of the queue."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q

from tickets.models import ACTIVE_STATUSES, Queue, QueueMember


def route_queue(*, region_id: int | None, product_line: str) -> Queue | None:
    """Return the most specific active queue for a region and product line.

    Region and product line both matching beat region only, which beats product line only,
    which beats a catch-all queue (neither set).
    """
    candidates = Queue.objects.filter(
        Q(region_id=region_id) | Q(region__isnull=True),
        Q(product_line=product_line) | Q(product_line=""),
        is_active=True,
    )
    ranked = sorted(
        candidates,
        key=lambda q: (-(2 if q.region_id is not None else 0) - (1 if q.product_line else 0), q.pk),
    )
    return ranked[0] if ranked else None


def pick_agent(*, queue: Queue, now: dt.datetime, exclude: int | None = None) -> int | None:
    """Return the id of the active member with the fewest open tickets (round-robin on ties).

    The chosen member's `last_assigned_at` is stamped, so the next tie goes to someone else.
    """
    members = QueueMember.objects.filter(
        queue=queue, is_active=True, agent__is_active=True, agent__is_staff=True
    )
    if exclude is not None:
        members = members.exclude(agent_id=exclude)
    member = (
        members.annotate(
            load=Count(
                "agent__assigned_tickets",
                filter=Q(agent__assigned_tickets__status__in=ACTIVE_STATUSES),
            )
        )
        .order_by("load", F("last_assigned_at").asc(nulls_first=True), "agent_id")
        .values_list("pk", "agent_id")
        .first()
    )
    if member is None:
        return None
    QueueMember.objects.filter(pk=member[0]).update(last_assigned_at=now)
    return member[1]
