"""The audit table's indexes: each event written pays for every one, so none is kept that no
query reads (migrations 0007 and 0008), on every database."""

from __future__ import annotations

import pytest
from django.db import connection


def _actor_indexes() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "audit_auditevent")
    return {
        name: spec["columns"]
        for name, spec in constraints.items()
        if spec["index"] and spec["columns"] and spec["columns"][0] == "actor_ref"
    }


@pytest.mark.django_db
def test_the_actor_is_indexed_once_with_its_time():
    """An equality lookup on the actor is served by (actor_ref, at); a single-column index
    (and PostgreSQL's LIKE twin) beside it was paid by every event written (migration 0008)."""
    assert list(_actor_indexes().values()) == [["actor_ref", "at"]]


@pytest.mark.django_db(transaction=True)
def test_the_actor_indexes_are_dropped_and_built_concurrently_outside_a_transaction():
    import importlib

    migration = importlib.import_module("audit.migrations.0008_drop_actor_ref_single_indexes")
    assert migration.Migration.atomic is False
    expected_back = 2 if connection.vendor == "postgresql" else 1
    with connection.schema_editor(atomic=False, collect_sql=False) as editor:
        migration.create(None, editor)
        assert len(_actor_indexes()) == 1 + expected_back
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [migration.PATTERN])
                assert cursor.fetchall()
        migration.drop(None, editor)
        assert list(_actor_indexes().values()) == [["actor_ref", "at"]]
    if connection.vendor == "postgresql":
        with connection.schema_editor(atomic=False, collect_sql=True) as editor:
            migration.create(None, editor)
            migration.drop(None, editor)
        assert all("CONCURRENTLY" in sql for sql in editor.collected_sql), editor.collected_sql
