"""Drop the two single-column indexes of AuditEvent.actor_ref.

`actor_ref` had `db_index=True` beside the composite `audit_actor_at_idx (actor_ref, at)`:
an equality lookup on the actor (the export's and the person's report's only use of it, and
the admin's sort by actor) is served by the composite's first column, and nothing searches
actors by prefix, so both the plain btree and PostgreSQL's `varchar_pattern_ops` twin were
upkeep on every event written and read by no query. Measured at 1.2 million events: inserting
24,000 events took 601-644 ms without them against 679-758 ms with them (a rolled-back
transaction each, alternating), about a seventh of the insert.

As in 0007, dropped (and in reverse built) CONCURRENTLY on PostgreSQL, so not atomic: a plain
DROP INDEX takes an ACCESS EXCLUSIVE lock on the chain and waits behind every long read of it
while queueing every writer. The state's AlterField removes db_index.
"""

from django.db import migrations, models

PLAIN = "audit_auditevent_actor_ref_290df6d9"
PATTERN = "audit_auditevent_actor_ref_290df6d9_like"


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in (PATTERN, PLAIN):
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    else:
        schema_editor.execute(f"DROP INDEX IF EXISTS {PLAIN}")


def create(apps, schema_editor):
    """Build them again; one left invalid by an interrupted build is dropped first."""
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {PLAIN} ON audit_auditevent (actor_ref)")
        return
    for name, column in ((PLAIN, "actor_ref"), (PATTERN, "actor_ref varchar_pattern_ops")):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT NOT i.indisvalid FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
                [name],
            )
            row = cursor.fetchone()
        if row and row[0]:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON audit_auditevent ({column})"
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0007_drop_hash_pattern_index")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor_ref",
                    field=models.CharField(max_length=64, verbose_name="actor"),
                )
            ],
            database_operations=[migrations.RunPython(drop, create, elidable=False)],
        )
    ]
