"""The database side of the chain's protection on PostgreSQL: triggers refuse what no code
does (issue 17, point 1), and the desk's own role lacks the privileges (checklist item 27).

The test database user is the superuser `postgres`: the triggers hold against it as long as
it does not switch them off, which audit_verify reports and the checkpoints catch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit import chain
from audit.models import AuditCheckpoint, AuditEvent, ChainHead, PendingAuditEvent
from audit.selectors import chain_verify
from audit.services import audit_checkpoint, audit_record, audit_seal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def write_events(n: int) -> None:
    for i in range(n):
        audit_record(action="test.event", target_type="tests.thing", target_id=i, data={"i": i})


def execute(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def refused(sql: str, params: list | None = None, *, match: str) -> None:
    """Assert the statement fails (inside a savepoint, so the test goes on)."""
    with pytest.raises(DatabaseError, match=match), transaction.atomic():
        execute(sql, params)


def is_superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        return cursor.fetchone()[0]


def verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    "table",
    ["audit_auditevent", "audit_chainhead", "audit_pendingauditevent", "audit_auditcheckpoint"],
)
def test_truncate_of_every_audit_table_is_refused_even_for_a_superuser(table):
    write_events(3)
    audit_checkpoint()
    assert is_superuser()
    refused(f"TRUNCATE {table}", match=f"{table} is append-only: TRUNCATE refused")
    assert AuditEvent.objects.count() == 3 and AuditCheckpoint.objects.count() == 1


def test_the_issues_wipe_is_refused_truncate_and_head_reset_alike():
    """Issue 17: TRUNCATE audit_auditevent plus the head reset to seq 0 used to pass
    audit_verify as "OK: 0 events". Both statements are refused now."""
    write_events(5)
    refused("TRUNCATE audit_auditevent", match="TRUNCATE refused")
    refused(
        "UPDATE audit_chainhead SET seq = 0, hash = %s",
        [chain.GENESIS_HASH],
        match="only moves forward: seq 5 to 0 refused",
    )
    assert "audit chain OK: 5 events" in verify()


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        ("UPDATE audit_chainhead SET seq = seq - 1", "only moves forward"),
        ("UPDATE audit_chainhead SET hash = repeat('a', 64)", "only moves forward"),
        ("UPDATE audit_chainhead SET seq = seq + 1", "must name an event of the chain"),
        (
            "UPDATE audit_chainhead SET seq = 4, hash = (SELECT hash FROM audit_auditevent "
            "WHERE seq = 3)",
            "only moves forward",
        ),
        ("DELETE FROM audit_chainhead", "DELETE refused"),
        ("INSERT INTO audit_chainhead (id, seq, hash) VALUES (2, 0, repeat('0', 64))", "one row"),
    ],
    ids=[
        "lower-seq",
        "other-hash",
        "beyond-the-chain",
        "back-onto-an-older-event",
        "delete",
        "2nd",
    ],
)
def test_the_chain_head_only_moves_forward_onto_an_event_of_the_chain(sql, match):
    write_events(5)
    refused(sql, match=match)
    head = ChainHead.objects.get()
    assert (head.seq, head.hash) == (5, AuditEvent.objects.get(seq=5).hash)


def test_a_head_cannot_be_forged_forward_onto_an_event_it_does_not_name():
    write_events(5)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(
            "INSERT INTO audit_auditevent (seq, at, actor_ref, action, outcome, target_type, "
            "target_id, changed_fields, data, request_id, prev_hash, hash) SELECT 6, at, "
            "actor_ref, 'forged', outcome, target_type, target_id, changed_fields, data, "
            "request_id, hash, repeat('b', 64) FROM audit_auditevent WHERE seq = 5"
        )
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
    refused("UPDATE audit_chainhead SET seq = 6, hash = repeat('c', 64)", match="must name")


@pytest.mark.audit_deferred
def test_pending_events_cannot_be_deleted_or_edited_only_sealed_into_the_chain():
    """Issue 17: pending (unsealed) events could be deleted freely, leaving no trace."""
    for i in range(3):
        audit_record(action="test.pending", target_type="tests.thing", target_id=i)
    assert PendingAuditEvent.objects.count() == 3 and is_superuser()
    refused("DELETE FROM audit_pendingauditevent", match=r"DELETE of 3 pending event\(s\) refused")
    first = PendingAuditEvent.objects.order_by("id").first().pk
    refused("DELETE FROM audit_pendingauditevent WHERE id = %s", [first], match="refused")
    refused("UPDATE audit_pendingauditevent SET action = 'x'", match="append-only: UPDATE")
    refused("TRUNCATE audit_pendingauditevent", match="TRUNCATE refused")
    # A forged setting does not open the door: only rows that land in the chain may leave.
    execute("SELECT set_config('welddesk.audit_sealing', 'on', true)")
    refused("DELETE FROM audit_pendingauditevent", match="refused")
    assert PendingAuditEvent.objects.count() == 3
    assert audit_seal() == 3  # the sealer moves them, in one statement
    assert PendingAuditEvent.objects.count() == 0
    assert (
        list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
        == ["test.pending"] * 3
    )
    assert chain_verify().ok


@pytest.mark.audit_deferred
def test_a_pending_event_cannot_be_swapped_for_a_different_chain_event():
    """Deleting a pending row is allowed only when the same event is chained after the head
    in the statement; an unrelated event inserted beyond the head does not count."""
    audit_record(action="test.pending", target_type="tests.thing", target_id=1)
    execute(
        "INSERT INTO audit_auditevent (seq, at, actor_ref, action, outcome, target_type, "
        "target_id, changed_fields, data, request_id, prev_hash, hash) SELECT 1, at, "
        "actor_ref, 'other', outcome, target_type, target_id, changed_fields, data, "
        "request_id, repeat('0', 64), repeat('d', 64) FROM audit_pendingauditevent"
    )
    refused("DELETE FROM audit_pendingauditevent", match="refused")


def test_checkpoint_rows_are_append_only():
    write_events(2)
    row = audit_checkpoint()
    refused("UPDATE audit_auditcheckpoint SET seq = 1", match="append-only: UPDATE")
    refused("DELETE FROM audit_auditcheckpoint", match="append-only: DELETE")
    assert AuditCheckpoint.objects.get().seq == row.seq == 2


def test_a_disabled_protecting_trigger_fails_verify_naming_it():
    write_events(2)
    execute("ALTER TABLE audit_chainhead DISABLE TRIGGER audit_chainhead_forward_only")
    with pytest.raises(
        CommandError, match="trigger audit_chainhead_forward_only on audit_chainhead is disabled"
    ):
        verify()
    execute("ALTER TABLE audit_chainhead ENABLE TRIGGER audit_chainhead_forward_only")
    assert "audit chain OK: 2 events" in verify()


# -- the desk's own database role (checklist item 27) ---------------------------------------


@pytest.fixture
def app_role() -> str:
    """A role like the desk's in production: not the tables' owner, with the general DML
    grant and then exactly what `manage.py audit_privileges` prints. Created inside the
    test's transaction, so it disappears with it."""
    name = f"welddesk_app_{uuid.uuid4().hex[:12]}"
    execute(f'CREATE ROLE "{name}" NOLOGIN')
    execute(f'GRANT USAGE ON SCHEMA public TO "{name}"')
    execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{name}"')
    execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{name}"')
    out = StringIO()
    call_command("audit_privileges", name, stdout=out)
    for statement in out.getvalue().splitlines():
        execute(statement)
    return name


@contextmanager
def acting_as(role: str) -> Iterator[None]:
    execute(f'SET ROLE "{role}"')
    try:
        yield
    finally:
        execute("RESET ROLE")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_app_role_is_denied_update_delete_truncate_and_the_trigger_refuses_too(app_role, sql):
    """Checklist 27: as the desk's database role the statement is refused for want of the
    privilege; as the owner (a superuser here) the append-only trigger refuses it."""
    write_events(3)
    with acting_as(app_role):
        refused(sql, match="permission denied for table audit_auditevent")
    assert is_superuser()
    refused(sql, match="audit_auditevent is append-only")
    assert AuditEvent.objects.count() == 3 and chain_verify().ok


def test_the_app_role_cannot_switch_the_triggers_off_or_rewind_the_head(app_role):
    write_events(3)
    with acting_as(app_role):
        refused("ALTER TABLE audit_auditevent DISABLE TRIGGER USER", match="must be owner")
        refused("DELETE FROM audit_chainhead", match="permission denied")
        refused("UPDATE audit_chainhead SET seq = 0, hash = repeat('0', 64)", match="only moves")
        refused("UPDATE audit_pendingauditevent SET action = 'x'", match="permission denied")
        refused("DELETE FROM audit_auditcheckpoint", match="permission denied")
        # The wipe setting is for the tables' owner only (test flushes).
        execute("SELECT set_config('welddesk.audit_wipe', 'on', true)")
        refused("TRUNCATE audit_pendingauditevent", match="permission denied")
    execute(f'GRANT TRUNCATE ON audit_pendingauditevent TO "{app_role}"')
    with acting_as(app_role):
        refused("TRUNCATE audit_pendingauditevent", match="TRUNCATE refused")


@pytest.mark.audit_deferred
def test_the_app_role_has_all_the_desk_needs_to_record_seal_and_checkpoint(app_role, settings):
    with acting_as(app_role):
        for i in range(3):
            audit_record(action="test.as_app", target_type="tests.thing", target_id=i)
        assert audit_seal() == 3
        settings.AUDIT_SEALING = "inline"
        audit_record(action="test.inline_as_app")
        audit_checkpoint()
        assert "audit chain OK: 4 events" in verify()


@pytest.mark.django_db
def test_the_event_hash_is_unique_without_a_second_index_for_like_searches():
    """Each event written pays for every index of the table; nothing searches hashes by
    prefix, so only the unique index remains (migration 0007)."""
    if connection.vendor != "postgresql":
        pytest.skip("Django adds the LIKE index on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent' "
            "AND indexdef LIKE '%%(hash%%'"
        )
        found = [row[0] for row in cursor.fetchall()]
    assert len(found) == 1 and "UNIQUE" in found[0], found


@pytest.mark.django_db(transaction=True)
def test_the_like_index_is_dropped_and_built_concurrently_outside_a_transaction():
    """A plain DROP INDEX locks the audit table ACCESS EXCLUSIVE (waiting behind long reads,
    every writer waiting behind it) and a plain CREATE INDEX stops chain inserts: both run
    CONCURRENTLY, which PostgreSQL refuses inside a transaction, so the migration is not
    atomic."""
    import importlib

    migration = importlib.import_module("audit.migrations.0007_drop_hash_pattern_index")
    assert migration.Migration.atomic is False
    if connection.vendor != "postgresql":
        pytest.skip("the index exists on PostgreSQL only")

    def like_indexes():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [migration.INDEX])
            return len(cursor.fetchall())

    with connection.schema_editor(atomic=False, collect_sql=False) as editor:
        migration.create(None, editor)
        assert like_indexes() == 1
        migration.drop(None, editor)
        assert like_indexes() == 0
    with connection.schema_editor(atomic=False, collect_sql=True) as editor:
        migration.create(None, editor)
        migration.drop(None, editor)
    assert len(editor.collected_sql) == 2
    assert all("CONCURRENTLY" in sql for sql in editor.collected_sql), editor.collected_sql


def test_an_actors_events_are_read_from_the_composite_index():
    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT seq FROM audit_auditevent WHERE actor_ref = 'user:1'")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The composite index, never the table: whether PostgreSQL then walks it in order or
    # sorts a bitmap's few rows depends on the statistics (a CI run's planner sorted three).
    assert "audit_actor_at_idx" in plan and "Seq Scan" not in plan, plan
