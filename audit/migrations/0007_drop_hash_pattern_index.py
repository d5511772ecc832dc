"""Drop the LIKE index Django adds beside the unique index of AuditEvent.hash (PostgreSQL).

A unique CharField gets a second btree (`varchar_pattern_ops`) for LIKE 'prefix%' searches;
nothing searches the chain's hashes by prefix (they are compared whole, by the chain and the
checkpoints), and every event written paid for it: a sixth of the cost of inserting an event
(the SLA scan writes tens of thousands at a time). The unique index stays. The model still
says unique=True, so the migration state is unchanged; Django drops a `_like` index with IF
EXISTS when a field changes, so a later change of the field finds nothing missing.
"""

from django.db import migrations

INDEX = "audit_auditevent_hash_d0c402da_like"


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON audit_auditevent (hash varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_verbose_names")]
    operations = [migrations.RunPython(drop, create)]
