"""Drop the LIKE index Django adds beside the unique index of AuditEvent.hash (PostgreSQL).

A unique CharField gets a second btree (`varchar_pattern_ops`) for LIKE 'prefix%' searches;
nothing searches the chain's hashes by prefix (they are compared whole, by the chain and the
checkpoints), and every event written paid for it: a sixth of the cost of inserting an event
(the SLA scan writes tens of thousands at a time). The unique index stays.

The index is dropped (and, in reverse, built) CONCURRENTLY, so the migration is not atomic:
a plain DROP INDEX takes an ACCESS EXCLUSIVE lock on the audit table and waits behind every
long read of it (an export, a verification) while queueing all writers behind itself, and a
plain CREATE INDEX would stop every chain insert for as long as it reads the table.

Django's migration state still expects the `_like` index: the model says unique=True and
this migration changes no state. A later AlterField on `hash` (its length, say) makes Django
drop the `_like` index with IF EXISTS (nothing missing) and, for a still unique CharField,
create it again: such a migration must drop it once more, as this one does.
"""

from django.db import migrations

INDEX = "audit_auditevent_hash_d0c402da_like"


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


def create(apps, schema_editor):
    """Build the index again; one left invalid by an interrupted build is dropped first."""
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT NOT i.indisvalid FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
                [INDEX],
            )
            row = cursor.fetchone()
        if row and row[0]:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} "
            "ON audit_auditevent (hash varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("audit", "0006_verbose_names")]
    operations = [migrations.RunPython(drop, create, elidable=False)]
