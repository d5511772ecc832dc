"""The agents' home reads a block's few rows from an index, whatever the agent holds
(PostgreSQL, EXPLAIN).

Each block shows the five most urgent of its tickets (`home_selectors.by_urgency`, the list's
order by the stored `sla_next_due`). With 20,000 active tickets, a tenth of them the agent's,
ANALYZEd, the block's row query must walk `ticket_assignee_due_idx` (mine),
`ticket_callback_due_idx` (callbacks) in order and stop after five: no sort of the agent's
tickets; a queue's unassigned tickets are read through an index, never by a scan of the whole
table, which at a million cost the busiest agent's home 1.66 s (docs/performance.md,
"A million tickets").
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from tickets import home_selectors
from tickets.models import QueueMember, Ticket
from tickets.tests.plans import copy_ticket, explain

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="plans of PostgreSQL's planner"
)

COPIES = 20_000


def _nodes(plan: dict) -> list[dict]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


@pytest.fixture
def busy_agent(open_ticket, queue_setup, make_staff):
    """An agent of the queue holding one in ten of 20,000 active tickets, the rest of them
    spread over two colleagues and nobody; due times spread over a month."""
    queue, _supervisor, (colleague, other, *_) = queue_setup
    me = make_staff(full_name="Busy Agent")
    QueueMember.objects.create(queue=queue, agent=me)
    ticket = open_ticket()
    Ticket.objects.filter(pk=ticket.pk).update(queue=queue)
    copy_ticket(
        ticket,
        COPIES,
        year=2032,
        assignee=(
            f"CASE g %% 10 WHEN 0 THEN {int(me.pk)} WHEN 1 THEN NULL "
            f"WHEN 2 THEN {int(colleague.pk)} ELSE {int(other.pk)} END"
        ),
        sla_next_due="now() + (g %% 43200) * interval '1 minute'",
        channel="CASE WHEN g %% 50 = 7 THEN 'callback' ELSE t.channel END",
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tickets_ticket")
    return me


@pytest.mark.parametrize(
    ("kind", "index"),
    [("mine", "ticket_assignee_due_idx"), ("callbacks", "ticket_callback_due_idx")],
)
def test_a_blocks_rows_are_read_in_order_from_an_index(busy_agent, kind, index):
    scoped = home_selectors.work_scoped(user=busy_agent, kind=kind, now=timezone.now())
    assert scoped.count() >= COPIES // 50
    rows = home_selectors.by_urgency(scoped)[:5]
    nodes = _nodes(explain(*rows.query.sql_with_params()))
    kinds = {node["Node Type"] for node in nodes}
    assert index in {node.get("Index Name") for node in nodes}, nodes
    assert not kinds & {"Sort", "Incremental Sort"}, kinds
    scanned = [n for n in nodes if n.get("Relation Name") == Ticket._meta.db_table]
    assert scanned and all(n["Node Type"] != "Seq Scan" for n in scanned), scanned


def test_a_queues_unassigned_tickets_are_found_through_an_index(busy_agent):
    """Unassigned in my queues is `queue IN (mine) OR queue's supervisor is me`: no one index
    gives that in urgency order, so the planner may walk ticket_next_due_idx skipping the
    others, or take the queue's rows through an index and sort them (2,000 here; the few a
    queue leaves unassigned on a desk that assigns on arrival). Either way, never a scan of
    the whole table; the count is bounded by its cap."""
    scoped = home_selectors.work_scoped(user=busy_agent, kind="unassigned", now=timezone.now())
    rows = home_selectors.by_urgency(scoped)[:5]
    nodes = _nodes(explain(*rows.query.sql_with_params()))
    scanned = [n for n in nodes if n.get("Relation Name") == Ticket._meta.db_table]
    assert scanned and all(n["Node Type"] != "Seq Scan" for n in scanned), scanned
