"""Rows of several tables written in one statement: a batch that each app fills with its own rows.

Opening a ticket writes the ticket, its SLA timers, its first message, its search terms, an
outbox row and a pending audit event. Each of those belongs to an app (notifications alone
writes the outbox, audit alone the audit tables), so each app adds its own unsaved rows to an
`InsertBatch` and the caller sends them together. On PostgreSQL `flush` sends one
`WITH a AS (INSERT ...), b AS (INSERT ...) SELECT ...` statement: one round trip and one
statement instead of one per table. Foreign keys between the rows hold because PostgreSQL
checks them at the end of the statement; a row that points at another row of the batch must
therefore know that row's primary key before the flush (draw it from the sequence first).

Elsewhere (SQLite) each group is a `bulk_create`, in the order added.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, connections, models


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
        rows: Sequence[models.Model],
        *,
        conflict_target: tuple[str, ...] = (),
        on_pks: Callable[[list[Any]], None] | None = None,
        returning: bool = True,
    ) -> None:
        """Queue rows of one model. `on_pks` receives the primary keys of the rows inserted
        (with a conflict target, the rows skipped are left out), in the rows' order;
        `returning=False` spares the answer the new keys of rows nobody reads again."""
        if rows:
            self.groups.append(_Group(model, list(rows), conflict_target, on_pks, returning))

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
                if not manager.filter(**lookup).exists():
                    row.save(force_insert=True)
                    pks.append(row.pk)
        else:
            created = group.model._default_manager.bulk_create(group.rows)
            pks = [row.pk for row in created]
        if group.on_pks is not None:
            group.on_pks(pks)


def _values(group: _Group, db: Any) -> tuple[list[str], list[str], list[Any]]:
    """The columns, one `(%s, ...)` per row and the parameters of a group's INSERT."""
    pk_field = group.model._meta.pk
    pk_given = all(row.pk is not None for row in group.rows)
    fields = [f for f in group.model._meta.concrete_fields if pk_given or f is not pk_field]
    params: list[Any] = []
    tuples = []
    for row in group.rows:
        for f in fields:
            value = f.pre_save(row, add=True)
            params.append(f.get_db_prep_save(value, db))
        tuples.append("(" + ", ".join(["%s"] * len(fields)) + ")")
    quote = db.ops.quote_name
    return [quote(f.column) for f in fields], tuples, params


def _flush_postgresql(groups: list[_Group]) -> None:
    # The connection itself, not the thread-local proxy: _values passes it for every value.
    db = connections[connection.alias]
    quote = db.ops.quote_name
    ctes, selects, params = [], [], []
    for n, group in enumerate(groups):
        columns, tuples, values = _values(group, db)
        pk = quote(group.model._meta.pk.column)
        conflict = ""
        if group.conflict_target:
            target = ", ".join(
                quote(group.model._meta.get_field(f).column) for f in group.conflict_target
            )
            conflict = f" ON CONFLICT ({target}) DO NOTHING"
        ctes.append(
            # Names from the models' meta, every value a bound parameter.
            f"w{n} AS (INSERT INTO {quote(group.model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES {', '.join(tuples)}{conflict} RETURNING {pk})"
        )
        params += values
        if group.on_pks is not None or (
            group.returning and any(row.pk is None for row in group.rows)
        ):
            selects.append(f"SELECT {n}, {pk} FROM w{n}")  # noqa: S608
    # Every data-modifying CTE runs whether or not the final SELECT reads it.
    sql = f"WITH {', '.join(ctes)} " + (
        " UNION ALL ".join(selects) if selects else "SELECT 0, NULL"
    )
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    by_group: dict[int, list[Any]] = {}
    for n, pk in returned:
        by_group.setdefault(n, []).append(pk)
    for n, group in enumerate(groups):
        pks = by_group.get(n, [])
        if not group.conflict_target and len(pks) == len(group.rows):
            # RETURNING of a plain INSERT ... VALUES gives the rows in order.
            for row, pk in zip(group.rows, pks, strict=True):
                row.pk = pk
                row._state.adding = False
        else:
            for row in group.rows:
                row._state.adding = False
        if group.on_pks is not None:
            group.on_pks(pks)
