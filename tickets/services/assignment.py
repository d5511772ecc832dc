"""Routing to a queue and automatic assignment to the least-busy agent of the queue."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
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
        _draw_sql.clear()


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


def _candidates(queue: Queue, region_id: int | None, exclude: int | None = None):
    """The queue's members who may take a ticket of the region, least busy first."""
    members = QueueMember.objects.filter(
        queue=queue,
        is_active=True,
        agent__is_active=True,
        agent__is_staff=True,
        agent_id__in=staff_seeing_region(region_id),
    )
    if exclude is not None:
        members = members.exclude(agent_id=exclude)
    return members.annotate(load=Coalesce(F("agent__ticket_load__open_tickets"), 0)).order_by(
        "load", F("last_assigned_at").asc(nulls_first=True), "agent_id"
    )


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
    return _candidates(queue, region_id, exclude).select_related("agent").first()


# The agent's columns a new ticket reads: the assignment notice's recipient (notifications
# .messages.recipient_of and the e-mail template) and the 201 answer (none).
AGENT_COLUMNS = ("id", "email", "phone", "language", "timezone", "is_staff", "is_active")


@dataclass
class Draw:
    """What a new ticket draws before its rows are written (PostgreSQL, `draw_new`)."""

    number: int  # the reference number of the year
    ticket_id: int
    agent: Any  # the assignee (a User with AGENT_COLUMNS loaded), or None
    contended: bool = False  # members were there, but every one was locked: assign by hand


def _sql(queryset) -> tuple[str, tuple]:
    return queryset.query.get_compiler(connection=connection).as_sql()


# The compiled candidate queries of draw_new per (queue, region): building them through the
# ORM cost more than the statement itself. Their text and parameters depend on nothing else.
_draw_sql: dict[tuple[int, int | None], tuple[str, tuple, str, tuple]] = {}


def _candidate_sql(queue: Queue, region_id: int | None) -> tuple[str, tuple, str, tuple]:
    key = (queue.pk, region_id)
    hit = _draw_sql.get(key)
    if hit is None:
        candidates = _candidates(queue, region_id)
        pick_sql, pick_params = _sql(
            candidates.values("pk", "agent_id")[:1].select_for_update(
                skip_locked=True, of=("self",)
            )
        )
        any_sql, any_params = _sql(candidates.values("pk")[:1])
        hit = (pick_sql, tuple(pick_params), any_sql, tuple(any_params))
        with _lock:
            _draw_sql[key] = hit
    return hit


def draw_new(
    *, queue: Queue | None, region_id: int | None, now: dt.datetime, sequence: str
) -> Draw:
    """Draw the reference number and the ticket's id, and assign the least-busy member, in
    one statement (PostgreSQL, inside the opening transaction).

    The member is taken `FOR UPDATE SKIP LOCKED`: two openings at the same instant do not
    queue on one member's row, the second takes the next least-busy member. In the same
    statement the member's round-robin stamp is set (UPDATE ... RETURNING) and the agent's
    load counted (an upsert of their AgentLoad row), and only the agent's columns the
    assignment notice needs are read. When every candidate is locked (`contended`), the
    caller assigns with `pick_agent` and its waiting locks instead.
    """
    user_model = get_user_model()
    quote = connection.ops.quote_name
    if queue is not None:
        pick_sql, pick_params, any_sql, any_params = _candidate_sql(queue, region_id)
    else:
        pick_sql, pick_params = (
            "SELECT NULL::bigint AS id, NULL::bigint AS agent_id WHERE false",
            (),
        )
        any_sql, any_params = "SELECT 1 WHERE false", ()
    member_table = quote(QueueMember._meta.db_table)
    load_table = quote(AgentLoad._meta.db_table)
    user_table = quote(user_model._meta.db_table)
    # In the model's field order, as Model.from_db expects a partial row.
    fields = [f for f in user_model._meta.concrete_fields if f.name in AGENT_COLUMNS]
    columns = ", ".join(f"u.{quote(f.column)}" for f in fields)
    sql = (
        f"WITH pick (id, agent_id) AS ({pick_sql}), "  # noqa: S608 - names from the models, values bound
        f"stamp AS (UPDATE {member_table} SET last_assigned_at = %s FROM pick "
        f"WHERE {member_table}.id = pick.id RETURNING {member_table}.agent_id), "
        f"counted AS (INSERT INTO {load_table} (agent_id, open_tickets) "
        f"SELECT agent_id, 1 FROM stamp ON CONFLICT (agent_id) "
        f"DO UPDATE SET open_tickets = {load_table}.open_tickets + 1 RETURNING agent_id) "
        f"SELECT nextval(%s), nextval(pg_get_serial_sequence(%s, 'id')), "
        f"EXISTS ({any_sql}), {columns} "
        f"FROM (SELECT 1) AS one LEFT JOIN counted ON true "
        f"LEFT JOIN {user_table} AS u ON u.id = counted.agent_id"
    )
    params = [
        *pick_params,
        now,
        sequence,
        Ticket._meta.db_table,
        *any_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        number, ticket_id, has_members, *agent_values = cursor.fetchone()
    agent = None
    if agent_values[0] is not None:
        values = [
            f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
            for f, v in zip(fields, agent_values, strict=True)
        ]
        agent = user_model.from_db(connection.alias, [f.attname for f in fields], values)
    return Draw(
        number=number,
        ticket_id=ticket_id,
        agent=agent,
        contended=agent is None and bool(has_members),
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
