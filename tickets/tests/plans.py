"""Support for the plan tests (PostgreSQL): a desk grown in SQL, and the planner's own plans.

The plan tests need tens of thousands of tickets whose statistics look like a large desk's;
building them through the services would take minutes, so one real ticket is copied in one
INSERT ... SELECT, older and older, with references of a year no other test uses.
"""

from __future__ import annotations

import json

from django.db import connection

from tickets.models import Ticket


def copy_ticket(ticket: Ticket, copies: int, *, year: int, **columns: str) -> None:
    """`copies` copies of `ticket` (references WD-<year>-000001..., each a minute older than
    the one before); `columns` give SQL expressions over `t` (the ticket) and `g` (the copy's
    number) for fields to set otherwise, e.g. organisation="CASE WHEN g %% 50 = 0 ..."."""
    quote = connection.ops.quote_name
    fields = [f for f in Ticket._meta.concrete_fields if not f.primary_key]
    given = {
        "reference": f"'WD-{int(year)}-' || lpad(g::text, 6, '0')",
        "created_at": "t.created_at - g * interval '1 minute'",
        **columns,
    }
    values = [given.get(f.name, f"t.{quote(f.column)}") for f in fields]
    table = quote(Ticket._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
            f"SELECT {', '.join(values)} FROM {table} t, generate_series(1, %s) g "
            "WHERE t.id = %s",
            [copies, ticket.pk],
        )


def explain(sql: str, params=None) -> dict:
    """The planner's plan of a statement (EXPLAIN, FORMAT JSON): its top node."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return plan[0]["Plan"]
