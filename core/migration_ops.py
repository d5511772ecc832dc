"""Index changes on the large tables, for migrations: CONCURRENTLY on PostgreSQL.

A plain DROP INDEX takes an ACCESS EXCLUSIVE lock on its table, waiting behind every long
read while every writer queues behind it; a plain CREATE INDEX stops the table's writes for as
long as it reads the table. CONCURRENTLY avoids both, cannot run in a transaction (the
migration says `atomic = False`), and can leave an invalid index behind if interrupted, which
`create_index` drops before building again.

Migrations import this module, so what a function does must not change once a migration uses
it (a migration already applied would then mean something else when replayed): add a new
function instead. Tickets 0017 and 0018 and audit 0007 predate it and keep their own copies.
"""

from __future__ import annotations

from typing import Any


def drop_index(schema_editor: Any, name: str) -> None:
    """Drop an index if it exists (CONCURRENTLY on PostgreSQL)."""
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}")


def create_index(schema_editor: Any, name: str, table: str, definition: str) -> None:
    """Build `CREATE INDEX name ON table (definition)` if missing (CONCURRENTLY on
    PostgreSQL, after dropping one an interrupted build left invalid)."""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({definition})")
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    if row and row[0]:
        drop_index(schema_editor, name)
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({definition})"
    )
