"""Reads of an agent's work for the home page and the ticket list's "work" filter.

One definition per kind of work ("mine", "unassigned", "hour", "callbacks"), used by both the
home's block and the list the block links to, so the link shows exactly the block's tickets.
Every read is scoped to the user's regions (accounts.permissions) and costs a fixed number of
queries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import (
    Avg,
    Case,
    Count,
    DateTimeField,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least
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

WORK_KINDS = ("mine", "unassigned", "hour", "callbacks")
# How far ahead "breaching within the hour" looks.
SOON = dt.timedelta(hours=1)
# Stands in for "no due time" so the nearest due time is the least of three (portable: SQLite's
# MIN() of a NULL is NULL, PostgreSQL's LEAST skips it).
NEVER = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)


def my_queues_q(user: Any, prefix: str = "") -> Q:
    """Tickets (or chats, with their own prefix) of the queues the user works or supervises."""
    members = QueueMember.objects.filter(agent=user).values("queue_id")
    return Q(**{f"{prefix}queue_id__in": members}) | Q(**{f"{prefix}queue__supervisor": user})


def nearest_due() -> Any:
    """The nearest due time of a ticket's running targets (NEVER when none runs)."""
    never = Value(NEVER, output_field=DateTimeField())
    first = Case(
        When(first_responded_at__isnull=True, then=F("first_response_due")),
        output_field=DateTimeField(),
    )
    resolution = Case(
        When(resolved_at__isnull=True, then=F("resolution_due")), output_field=DateTimeField()
    )
    return Least(
        Coalesce(first, never), Coalesce(F("next_reply_due"), never), Coalesce(resolution, never)
    )


def _due_between(start: dt.datetime, end: dt.datetime) -> Q:
    """A running target falls due in (start, end]."""
    window = {"__gt": start, "__lte": end}
    first = Q(first_responded_at__isnull=True) & Q(
        **{f"first_response_due{k}": v for k, v in window.items()}
    )
    reply = Q(**{f"next_reply_due{k}": v for k, v in window.items()})
    resolution = Q(resolved_at__isnull=True) & Q(
        **{f"resolution_due{k}": v for k, v in window.items()}
    )
    return first | reply | resolution


def work_q(user: Any, kind: str, *, now: dt.datetime) -> Q:
    """The active tickets of one kind of the user's work."""
    mine_or_queues = Q(assignee=user) | my_queues_q(user)
    if kind == "mine":
        wanted = Q(assignee=user)
    elif kind == "unassigned":
        wanted = Q(assignee__isnull=True) & my_queues_q(user)
    elif kind == "hour":
        # Not yet breached, but a clock that runs (not paused) reaches its due time this hour.
        wanted = (
            mine_or_queues
            & Q(status__in=RUNNING_STATUSES, sla_paused_at__isnull=True)
            & _due_between(now, now + SOON)
        )
    elif kind == "callbacks":
        wanted = Q(channel=Channel.CALLBACK) & mine_or_queues
    else:
        raise ValueError(kind)
    return Q(status__in=ACTIVE_STATUSES) & wanted


def by_urgency(queryset: QuerySet) -> QuerySet:
    """Most urgent first: running clocks by their nearest due time (breached ones are already
    past it, so they lead), paused clocks after them, then the graver priority."""
    paused = Case(When(sla_paused_at__isnull=False, then=Value(1)), default=Value(0))
    return queryset.annotate(home_paused=paused, home_due=nearest_due()).order_by(
        "home_paused", "home_due", "priority", "pk"
    )


def work_tickets(
    *, user: Any, kind: str, now: dt.datetime, limit: int = 5
) -> tuple[int, list[Ticket]]:
    """(how many, the most urgent few) of one kind of the user's work: two queries."""
    scoped = scope_by_organisation(user, Ticket.objects.filter(work_q(user, kind, now=now)))
    count = scoped.count()
    rows = list(by_urgency(scoped).select_related("organisation", "sla_policy__calendar")[:limit])
    return count, rows


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
