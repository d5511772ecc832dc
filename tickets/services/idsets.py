"""Sets of ids as one SQL parameter: an array on PostgreSQL, a JSON list on SQLite.

Bound one by one, thousands of ids cost more to send (and to build the statement for) than
the statement costs to run; the SLA scan and its live events pass sets of tens of thousands.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models.expressions import RawSQL


def ids_sql() -> str:
    """SQL of a set of ids passed as the one parameter of ids_param()."""
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[])"
    return "SELECT value FROM json_each(%s)"


def ids_param(ids: Iterable[int]) -> str:
    """The literal of a set of ids; each is made an int, so no string can add ids to the set
    (a "5,6" would be two elements of the array) or break out of the literal."""
    listed = ",".join(map(str, sorted(map(int, ids))))
    return f"{{{listed}}}" if connection.vendor == "postgresql" else f"[{listed}]"


def among(ids: Iterable[int]) -> RawSQL:
    """Return a subquery of the given ids, for `pk__in`: one parameter, however many ids.

    Bound one by one, thousands of ids cost more to send than the statement costs to run.
    In key order, the rows are visited in index order: fewer pages touched at random.
    """
    return RawSQL(ids_sql(), (ids_param(ids),))  # noqa: S611 (constant SQL, one bound value)
