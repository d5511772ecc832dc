"""Aggregates the ORM lacks on every database the desk runs on.

`JSONList` gathers a column of a subquery into one JSON array, so a page can bring a short list
(a user's roles, a ticket's tags) along with the row it belongs to instead of asking for it in
a round trip of its own. SQLite has JSON_GROUP_ARRAY, PostgreSQL JSONB_AGG (NULL for no rows,
hence the COALESCE); both come back as a Python list.
"""

from __future__ import annotations

from django.db.models import Aggregate, JSONField


class JSONList(Aggregate):
    function = "JSON_GROUP_ARRAY"
    output_field = JSONField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            function="JSONB_AGG",
            template="COALESCE(%(function)s(%(distinct)s%(expressions)s), '[]'::jsonb)",
            **extra_context,
        )
