"""Reads of an agent's work for the home page and the ticket list's "work" filter.

One definition per kind of work ("mine", "unassigned", "hour", "callbacks"), used by both the
home's block and the list the block links to, so the link shows exactly the block's tickets.
Every read is scoped to the user's regions (accounts.permissions) and costs a fixed number of
queries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet
from django.utils import timezone

from accounts.permissions import scope_by_organisation
from tickets.models import (
    ACTIVE_STATUSES,
    RUNNING_STATUSES,
    AgentLoad,
    Channel,
    Queue,
    QueueMember,
    Survey,
    Ticket,
)
from tickets.selectors import capped_count, urgency_ordering

WORK_KINDS = ("mine", "unassigned", "hour", "callbacks")
# How far ahead "breaching within the hour" looks.
SOON = dt.timedelta(hours=1)
# A block counts its tickets up to this many and then says "100+".
COUNT_CAP = 100


def my_queues_q(user: Any, prefix: str = "") -> Q:
    """Tickets (or chats, with their own prefix) of the queues the user works or supervises."""
    members = QueueMember.objects.filter(agent=user).values("queue_id")
    return Q(**{f"{prefix}queue_id__in": members}) | Q(**{f"{prefix}queue__supervisor": user})


def _due_soon(now: dt.datetime) -> Q:
    """The nearest running target falls due in (now, now + SOON]: not yet breached.

    The stored nearest due time (Ticket.sla_next_due, kept by the SLA services) is NULL while
    the clock is paused or stopped, so a paused ticket never counts as due soon.
    """
    return Q(sla_next_due__gt=now, sla_next_due__lte=now + SOON)


def work_q(user: Any, kind: str, *, now: dt.datetime) -> Q:
    """The active tickets of one kind of the user's work."""
    mine_or_queues = Q(assignee=user) | my_queues_q(user)
    if kind == "mine":
        wanted = Q(assignee=user)
    elif kind == "unassigned":
        wanted = Q(assignee__isnull=True) & my_queues_q(user)
    elif kind == "hour":
        # Not yet breached, but the nearest target of a running clock falls due this hour.
        wanted = mine_or_queues & Q(status__in=RUNNING_STATUSES) & _due_soon(now)
    elif kind == "callbacks":
        wanted = Q(channel=Channel.CALLBACK) & mine_or_queues
    else:
        raise ValueError(kind)
    return Q(status__in=ACTIVE_STATUSES) & wanted


def by_urgency(queryset: QuerySet) -> QuerySet:
    """Most urgent first, as the ticket list orders (selectors.urgency_ordering): the nearest
    running due time first (breached ones are already past it, so they lead), stopped clocks
    last, ties by key; the block shows the first rows of the list it links to.

    The stored `sla_next_due` serves the order from the partial indexes of active tickets by
    assignee and by queue (migration 0018), so the block reads its five rows, not all of
    the agent's tickets: computing the nearest due time in SQL (LEAST of three CASEs) made
    every block sort all of them, 1.66 s for an agent holding 55,000 at a million tickets.
    """
    return queryset.order_by(*urgency_ordering())


def work_tickets(
    *, user: Any, kind: str, now: dt.datetime, limit: int = 5
) -> tuple[tuple[int, bool], list[Ticket]]:
    """((how many, more than that), the most urgent few) of one kind of the user's work:
    two queries, each bounded by its limit whatever the agent holds."""
    scoped = work_scoped(user=user, kind=kind, now=now)
    count = capped_count(scoped, COUNT_CAP)
    rows = list(by_urgency(scoped).select_related("organisation", "sla_policy__calendar")[:limit])
    return count, rows


def work_scoped(*, user: Any, kind: str, now: dt.datetime) -> QuerySet:
    """One kind of the user's work within the user's regions (unordered)."""
    return scope_by_organisation(user, Ticket.objects.filter(work_q(user, kind, now=now)))


def csat_month(*, user: Any, now: dt.datetime) -> dict[str, Any]:
    """The user's satisfaction surveys sent this month (local time): sent, answered, average."""
    local = timezone.localtime(now)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    surveys = scope_by_organisation(
        user,
        Survey.objects.filter(agent=user, sent_at__gte=start),
        org_field="ticket__organisation",
    )
    row = surveys.aggregate(sent=Count("pk"), answered=Count("answered_at"), average=Avg("rating"))
    return {**row, "year": start.year, "month": start.month}


def queue_loads(*, user: Any) -> list[dict[str, Any]]:
    """Per agent of the queues the user supervises: name, their queues and open tickets
    (AgentLoad, kept by the ticket services), heaviest first; two queries."""
    supervised = Queue.objects.filter(supervisor=user, is_active=True).values("pk")
    members = (
        QueueMember.objects.filter(queue_id__in=supervised, agent__is_active=True)
        .select_related("agent", "queue")
        .order_by("queue__name", "pk")
    )
    agents: dict[int, dict[str, Any]] = {}
    loads = {}
    found = list(members)
    if found:
        loads = dict(
            AgentLoad.objects.filter(agent_id__in={m.agent_id for m in found}).values_list(
                "agent_id", "open_tickets"
            )
        )
    for member in found:
        row = agents.setdefault(
            member.agent_id,
            {
                "agent": member.agent,
                "name": member.agent.full_name or member.agent.email,
                "queues": [],
                "open": loads.get(member.agent_id, 0),
                "active": False,
            },
        )
        row["queues"].append(member.queue.name)
        row["active"] = row["active"] or member.is_active
    return sorted(agents.values(), key=lambda r: (-r["open"], r["name"].casefold()))
