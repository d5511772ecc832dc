"""Rows of several tables written in one statement: a batch that each app fills with its own rows.

Opening a ticket writes the ticket, its SLA timers, its first message, its search terms, an
outbox row and a pending audit event. Each of those belongs to an app (notifications alone
writes the outbox, audit alone the audit tables), so each app adds its own unsaved rows to an
`InsertBatch` and the caller sends them together. On PostgreSQL `flush` sends one
`WITH a AS (INSERT ...), b AS (INSERT ...) SELECT ...` statement: one round trip and one
statement instead of one per table. Foreign keys between the rows hold because Django's are
DEFERRABLE INITIALLY DEFERRED (checked at commit); a row that points at another row of the
batch must therefore know that row's primary key before the flush (draw it from the sequence
first).

Elsewhere (SQLite) each group is a `bulk_create`, in the order added.

A batch over PostgreSQL's 65,535 bound parameters is sent as several such statements, in
order, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, connections, models
from django.db.models.expressions import DatabaseDefault

# PostgreSQL's protocol counts a statement's parameters in 16 bits.
MAX_PARAMS = 65_535


@dataclass
class _Group:
    model: type[models.Model]
    rows: list[models.Model]
    conflict_target: tuple[str, ...] = ()  # ON CONFLICT (...) DO NOTHING on these columns
    on_pks: Callable[[list[Any]], None] | None = None  # called with the new rows' pks
    returning: bool = True  # set the rows' new pks (False: nobody reads them)


@dataclass
class InsertBatch:
    """Unsaved model rows to insert together, in the order their groups were added."""

    groups: list[_Group] = field(default_factory=list)

    def add(
        self,
        model: type[models.Model],
        rows: Iterable[models.Model],
        *,
        conflict_target: tuple[str, ...] = (),
        on_pks: Callable[[list[Any]], None] | None = None,
        returning: bool = True,
    ) -> None:
        """Queue rows of one model. `on_pks` receives the primary keys of the rows inserted
        (with a conflict target, the rows skipped are left out), in the rows' order;
        `returning=False` spares the answer the new keys of rows nobody reads again."""
        rows = list(rows)
        if rows:
            self.groups.append(_Group(model, rows, conflict_target, on_pks, returning))

    def flush(self) -> None:
        """Insert every queued row and empty the batch."""
        groups, self.groups = self.groups, []
        if not groups:
            return
        if connection.vendor == "postgresql":
            _flush_postgresql(groups)
        else:
            _flush_each(groups)


def _flush_each(groups: list[_Group]) -> None:
    for group in groups:
        if group.conflict_target:
            # One row at a time, so the caller learns which rows were new.
            pks = []
            manager = group.model._default_manager
            for row in group.rows:
                lookup = {f: getattr(row, f) for f in group.conflict_target}
                # NULL equals nothing in a unique index (nor in ON CONFLICT): always new.
                new = any(value is None for value in lookup.values())
                if new or not manager.filter(**lookup).exists():
                    row.save(force_insert=True)
                    pks.append(row.pk)
        else:
            created = group.model._default_manager.bulk_create(group.rows)
            pks = [row.pk for row in created]
        if group.on_pks is not None:
            group.on_pks(pks)


# Fields whose get_db_prep_save returns a value of this exact type unchanged (an int to an
# integer column, a str to a text column, a key's int): a batch passes such values as they
# are instead of a call per value. Exact classes only, so a subclass that encrypts,
# converts or checks (core.fields) always takes its own path.
_PLAIN: dict[type[models.Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.BooleanField: bool,
    models.ForeignKey: int,
    models.BigAutoField: int,
    models.AutoField: int,
}


def _values(
    group: _Group, db: Any
) -> tuple[list[models.Field], list[str], list[tuple[str, list[Any]]]]:
    """The fields and quoted columns of a group's INSERT, and per row its `(%s, ...)` and
    parameters.

    A key not given and a database default (a field with only `db_default`) are the
    column's DEFAULT, as an ordinary insert leaves them to the database."""
    pk_field = group.model._meta.pk
    with_pk = any(row.pk is not None for row in group.rows)
    fields = [
        f
        for f in group.model._meta.concrete_fields
        if not f.generated and (with_pk or f is not pk_field)
    ]
    plain = [_PLAIN.get(type(f)) for f in fields]
    rows = []
    for row in group.rows:
        marks, params = [], []
        for f, kind in zip(fields, plain, strict=True):
            value = f.pre_save(row, add=True)
            if isinstance(value, DatabaseDefault) or (f is pk_field and value is None):
                marks.append("DEFAULT")
            elif kind is not None and type(value) is kind:
                marks.append("%s")
                params.append(value)  # what get_db_prep_save would return
            else:
                marks.append("%s")
                params.append(f.get_db_prep_save(value, db))
        rows.append(("(" + ", ".join(marks) + ")", params))
    quote = db.ops.quote_name
    return fields, [quote(f.column) for f in fields], rows


def _unnest(
    fields: list[models.Field], rows: list[tuple[str, list[Any]]], db: Any
) -> tuple[str, list[Any]] | None:
    """`SELECT * FROM unnest(%s::type[], ...)` and one array per column for rows that can be
    sent so (Django's own test for bulk_create on PostgreSQL: several rows, no DEFAULT, no
    field with its own placeholder, standard column types, no expressions), else None.

    One parameter per column instead of one per value: the statement's text is the same
    whatever the number of rows, so it is prepared once per connection, and the driver
    adapts a few arrays instead of every value on its own."""
    if (
        len(rows) <= 1
        or any("DEFAULT" in marks for marks, _params in rows)
        or any(hasattr(f, "get_placeholder") for f in fields)
        or any(
            (f.target_field if f.is_relation else f).get_internal_type() not in db.data_types
            for f in fields
        )
        or any(hasattr(value, "as_sql") for _marks, params in rows for value in params)
    ):
        return None
    # No length in the casts (varchar[], not varchar(50)[]): nothing is cut short.
    casts = [f"%s::{f.db_type(db).split('(')[0]}[]" for f in fields]
    # Types from the models' fields, every value in a bound array.
    return f"SELECT * FROM unnest({', '.join(casts)})", [  # noqa: S608
        list(column) for column in zip(*(params for _marks, params in rows), strict=True)
    ]


@dataclass
class _Insert:
    """One INSERT ... RETURNING of a statement: the rows of group `n`, or some of them."""

    n: int
    sql: str
    params: list[Any]
    pk: str  # the quoted key column
    read: bool  # the statement's answer carries the new rows' keys


def _inserts(groups: list[_Group], db: Any) -> Iterator[_Insert]:
    """Each group's INSERT, cut where its rows alone would bind more than MAX_PARAMS."""
    quote = db.ops.quote_name
    for n, group in enumerate(groups):
        fields, columns, rows = _values(group, db)
        pk = quote(group.model._meta.pk.column)
        conflict = ""
        if group.conflict_target:
            target = ", ".join(
                quote(group.model._meta.get_field(f).column) for f in group.conflict_target
            )
            conflict = f" ON CONFLICT ({target}) DO NOTHING"
        read = group.on_pks is not None or (
            group.returning and any(row.pk is None for row in group.rows)
        )
        # Names from the models' meta, every value a bound parameter.
        head = f"INSERT INTO {quote(group.model._meta.db_table)} ({', '.join(columns)}) VALUES "  # noqa: S608
        tail = f"{conflict} RETURNING {pk}"
        # Rows whose new keys are read back keep VALUES, whose RETURNING order the caller
        # relies on.
        unnest = None if read else _unnest(fields, rows, db)
        if unnest is not None:
            select, arrays = unnest
            into = head.removesuffix("VALUES ")
            yield _Insert(n, into + select + tail, arrays, pk, read)
            continue
        tuples: list[str] = []
        params: list[Any] = []
        for marks, values in rows:
            if tuples and len(params) + len(values) > MAX_PARAMS:
                yield _Insert(n, head + ", ".join(tuples) + tail, params, pk, read)
                tuples, params = [], []
            tuples.append(marks)
            params += values
        yield _Insert(n, head + ", ".join(tuples) + tail, params, pk, read)


def _execute(inserts: list[_Insert], db: Any, returned: dict[int, list[Any]]) -> None:
    """One WITH ... statement for these inserts; add the keys it returns to `returned`."""
    ctes = [f"w{i} AS ({insert.sql})" for i, insert in enumerate(inserts)]
    selects = [
        f"SELECT {insert.n}, {insert.pk} FROM w{i}"  # noqa: S608
        for i, insert in enumerate(inserts)
        if insert.read
    ]
    # Every data-modifying CTE runs whether or not the final SELECT reads it.
    sql = f"WITH {', '.join(ctes)} " + (
        " UNION ALL ".join(selects) if selects else "SELECT 0, NULL WHERE false"
    )
    params = [value for insert in inserts for value in insert.params]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        for n, pk in cursor.fetchall():
            returned.setdefault(n, []).append(pk)


def _flush_postgresql(groups: list[_Group]) -> None:
    # The connection itself, not the thread-local proxy: _values passes it for every value.
    db = connections[connection.alias]
    by_group: dict[int, list[Any]] = {}
    statement: list[_Insert] = []
    size = 0
    for insert in _inserts(groups, db):
        if statement and size + len(insert.params) > MAX_PARAMS:
            _execute(statement, db, by_group)
            statement, size = [], 0
        statement.append(insert)
        size += len(insert.params)
    _execute(statement, db, by_group)
    for n, group in enumerate(groups):
        pks = by_group.get(n, [])
        if not group.conflict_target and len(pks) == len(group.rows):
            # RETURNING of a plain INSERT ... VALUES gives the rows in order.
            for row, pk in zip(group.rows, pks, strict=True):
                row.pk = pk
        for row in group.rows:
            row._state.adding = False
            row._state.db = db.alias
        if group.on_pks is not None:
            group.on_pks(pks)
