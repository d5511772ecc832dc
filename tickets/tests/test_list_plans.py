"""A customer's ticket list at any depth is a walk of one index (PostgreSQL, EXPLAIN).

The portal's "all" list and the API's list page an organisation's tickets newest first
(`selectors.ticket_list`, keys first: `selectors.KeyFirstPaginator`). With 20,000 tickets, one
in fifty of the customer's, ANALYZEd, the key query of a deep page must read `ticket_org_newest_idx`
in order: no sort of the organisation's tickets, and no walk of every ticket by `created_at`
dropping the other organisations' (170 ms at a million, docs/performance.md).
"""

from __future__ import annotations

import pytest
from django.db import connection

from tickets import selectors
from tickets.models import Ticket
from tickets.tests.plans import copy_ticket, explain

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="plans of PostgreSQL's planner"
)

COPIES = 20_000


def _copy(ticket: Ticket, other_org: int) -> None:
    """COPIES copies of the ticket, older and older, one in fifty of its organisation."""
    copy_ticket(
        ticket,
        COPIES,
        year=2031,
        organisation=f"CASE WHEN g %% 50 = 0 THEN t.organisation_id ELSE {int(other_org)} END",
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tickets_ticket")


def _nodes(plan: dict) -> list[dict]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


def test_a_deep_page_of_an_organisations_tickets_walks_one_index(
    open_ticket, make_customer, make_org
):
    ticket = open_ticket()
    other = make_customer(make_org(region="south")).organisation
    _copy(ticket, other.pk)
    tickets = selectors.ticket_list(user=ticket.requester, status=None)
    assert tickets.count() == 1 + COPIES // 50
    keys = tickets.values("pk")[300:320]  # page 16 of 20, as KeyFirstPaginator asks
    nodes = _nodes(explain(*keys.query.sql_with_params()))
    kinds = {node["Node Type"] for node in nodes}
    assert {node.get("Index Name") for node in nodes} >= {"ticket_org_newest_idx"}, nodes
    assert not kinds & {"Sort", "Incremental Sort", "Seq Scan"}, kinds
