"""Routing to a queue and automatic assignment to the least-busy agent of the queue."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, post_save

from accounts.permissions import sees_region, staff_seeing_region
from tickets.models import ACTIVE_STATUSES, AgentLoad, Queue, QueueMember, Ticket

# Active queues, cached per process: routing runs on every new ticket, queues change rarely.
# A save or delete in this process clears the cache; other processes see it within the TTL.
QUEUE_CACHE_TTL_S = 60
_queues: list[Queue] | None = None
_queues_expire = 0.0
_lock = threading.Lock()


def clear_queue_cache(**_kwargs: Any) -> None:
    global _queues
    with _lock:
        _queues = None


post_save.connect(clear_queue_cache, sender=Queue, dispatch_uid="tickets.queue_cache.save")
post_delete.connect(clear_queue_cache, sender=Queue, dispatch_uid="tickets.queue_cache.delete")


def _active_queues() -> list[Queue]:
    global _queues, _queues_expire
    now = time.monotonic()
    queues = _queues
    if queues is None or now > _queues_expire:
        queues = list(Queue.objects.filter(is_active=True).order_by("pk"))
        with _lock:
            _queues, _queues_expire = queues, now + QUEUE_CACHE_TTL_S
    return queues


def route_queue(*, region_id: int | None, product_line: str) -> Queue | None:
    """Return the most specific active queue for a region and product line.

    Region and product line both matching beat region only, which beats product line only,
    which beats a catch-all queue (neither set).
    """
    candidates = [
        q
        for q in _active_queues()
        if q.region_id in (region_id, None) and q.product_line in (product_line, "")
    ]
    ranked = sorted(
        candidates,
        key=lambda q: (-(2 if q.region_id is not None else 0) - (1 if q.product_line else 0), q.pk),
    )
    return ranked[0] if ranked else None


def choose_member(
    *, queue: Queue, region_id: int | None, exclude: int | None = None
) -> QueueMember | None:
    """Return the active member with the fewest open tickets (round-robin on ties), with agent.

    Only members who may see the customer's region are candidates (a nationwide queue can
    hold agents limited to some regions, who would get a 404 for the ticket).

    One query over the queue's members and their AgentLoad rows. The caller stamps the choice
    (`member_stamp`) and counts the ticket (`load_adjust`) as late in its transaction as it
    can, since both lock a row until commit.
    """
    members = QueueMember.objects.filter(
        queue=queue,
        is_active=True,
        agent__is_active=True,
        agent__is_staff=True,
        agent_id__in=staff_seeing_region(region_id),
    )
    if exclude is not None:
        members = members.exclude(agent_id=exclude)
    return (
        members.annotate(load=Coalesce(F("agent__ticket_load__open_tickets"), 0))
        .select_related("agent")
        .order_by("load", F("last_assigned_at").asc(nulls_first=True), "agent_id")
        .first()
    )


def takes_on_reply(ticket: Ticket, agent: Any) -> bool:
    """Whether a public reply by `agent` makes them the assignee of the unassigned `ticket`.

    The rules of an assignment by hand (active staff who see the customer's region), and
    membership of the ticket's queue when it has one: a supervisor or a colleague from another
    queue who answers once does not take the ticket out of the queue's pool. A queue with
    `assign_on_reply` off never assigns this way. One query at most (the membership).
    """
    if ticket.assignee_id is not None or not getattr(agent, "pk", None):
        return False
    if not (agent.is_staff and agent.is_active):
        return False
    if not sees_region(agent, ticket.organisation.region_id):
        return False
    queue = ticket.queue
    if queue is None:
        return True
    return queue.assign_on_reply and queue.members.filter(agent_id=agent.pk).exists()


def member_stamp(member: QueueMember, *, now: dt.datetime) -> None:
    """Record that the member was just given a ticket, so the next tie goes to someone else."""
    QueueMember.objects.filter(pk=member.pk).update(last_assigned_at=now)


def pick_agent(
    *, queue: Queue, region_id: int | None, now: dt.datetime, exclude: int | None = None
) -> Any:
    """Choose and stamp a member at once; return the agent (a user) or None."""
    member = choose_member(queue=queue, region_id=region_id, exclude=exclude)
    if member is None:
        return None
    member_stamp(member, now=now)
    return member.agent


def load_adjust(deltas: dict[int | None, int]) -> None:
    """Add to agents' open-ticket counts, e.g. {old_agent: -1, new_agent: +1}.

    Call it in the transaction that makes the change, as late as possible: the UPDATE locks
    the agent's row until commit.
    """
    for agent_id, delta in sorted((a, d) for a, d in deltas.items() if a and d):
        updated = AgentLoad.objects.filter(agent_id=agent_id).update(
            open_tickets=F("open_tickets") + delta
        )
        if not updated:
            AgentLoad.objects.bulk_create(
                [AgentLoad(agent_id=agent_id, open_tickets=0)], ignore_conflicts=True
            )
            AgentLoad.objects.filter(agent_id=agent_id).update(
                open_tickets=F("open_tickets") + delta
            )


@transaction.atomic
def agent_loads_rebuild() -> int:
    """Recount every agent's active tickets from the tickets themselves; return rows changed."""
    counted = dict(
        Ticket.objects.filter(status__in=ACTIVE_STATUSES, assignee__isnull=False)
        .order_by()
        .values_list("assignee_id")
        .annotate(n=Count("pk"))
    )
    stored = dict(AgentLoad.objects.values_list("agent_id", "open_tickets"))
    changed = 0
    for agent_id in set(counted) | set(stored):
        want = counted.get(agent_id, 0)
        if stored.get(agent_id) == want:
            continue
        changed += 1
        if agent_id in stored:
            AgentLoad.objects.filter(agent_id=agent_id).update(open_tickets=want)
        else:
            AgentLoad.objects.create(agent_id=agent_id, open_tickets=want)
    return changed
