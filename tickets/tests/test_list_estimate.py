"""The ticket list of a very large desk is counted from the planner's estimate ("about N").

COUNT(*) over a million tickets is a parallel scan of 60-70 ms on every view of the list, more
than the rest of the page (docs/performance.md, "A million tickets"). Above
RankedPaginator.estimate_above rows (by EXPLAIN) the list takes the estimate; below it, and on
SQLite, it counts exactly. The threshold is lowered here so a handful of tickets cross it.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tickets.search import RankedPaginator

CHANGELIST = "/admin/tickets/ticket/"


def _ticket_counts(queries) -> list[str]:
    """Statements that count tickets: Django's own COUNT, or the gated one (whose COUNT
    runs only while the table is small)."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if "COUNT(" in q["sql"].upper() and "tickets_ticket" in q["sql"]
    ]


def _plain_counts(queries) -> list[str]:
    return [s for s in _ticket_counts(queries) if s.upper().startswith("SELECT COUNT(")]


@pytest.fixture
def desk(staff_client, open_ticket):
    for _ in range(3):
        open_ticket()
    client, _user = staff_client(roles=("supervisor",), is_superuser=True)
    return client


def test_above_the_threshold_the_list_shows_the_estimate_without_counting(desk, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the planner's estimate is PostgreSQL's (SQLite counts exactly)")
    monkeypatch.setattr(RankedPaginator, "estimate_above", 0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tickets_ticket")  # the table's statistics: 3 rows, above 0
    with CaptureQueriesContext(connection) as queries:
        response = desk.get(CHANGELIST)
    assert response.status_code == 200
    cl = response.context["cl"]
    assert cl.paginator.estimated
    assert _plain_counts(queries) == []
    [gate] = _ticket_counts(queries)  # its COUNT branch not taken: the table is above 0 rows
    assert gate.startswith("SELECT CASE WHEN (SELECT reltuples")
    assert any(q["sql"].startswith("EXPLAIN (FORMAT JSON)") for q in queries.captured_queries)
    assert f"about {cl.result_count} tickets" in response.content.decode()
    assert len(cl.result_list) == 3  # the page itself is read as before
    # The gate (the table's size) and the estimate instead of the one COUNT: two statements.


def test_below_the_threshold_and_on_sqlite_the_list_counts_exactly(desk):
    with CaptureQueriesContext(connection) as queries:
        response = desk.get(CHANGELIST)
    cl = response.context["cl"]
    assert not cl.paginator.estimated
    assert cl.result_count == 3
    assert len(_ticket_counts(queries)) == 1  # one statement, as Paginator's count
    assert not any(q["sql"].startswith("EXPLAIN") for q in queries.captured_queries)
    assert "about 3" not in response.content.decode()


def test_a_filter_that_narrows_the_list_is_counted_exactly(desk, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the planner's estimate is PostgreSQL's")
    # The table (3 rows) is above the threshold of 1, but the planner expects no closed
    # ticket: the narrowed list is counted exactly.
    monkeypatch.setattr(RankedPaginator, "estimate_above", 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tickets_ticket")
    response = desk.get(CHANGELIST, {"status__exact": "closed"})
    cl = response.context["cl"]
    assert not cl.paginator.estimated
    assert cl.result_count == 0
