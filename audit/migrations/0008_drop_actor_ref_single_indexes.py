"""Drop the two single-column indexes of AuditEvent.actor_ref.

`actor_ref` had `db_index=True` beside the composite `audit_actor_at_idx (actor_ref, at)`:
an equality lookup on the actor (the export's and the person's report's only use of it, and
the admin's sort by actor) is served by the composite's first column, and nothing searches
actors by prefix, so both the plain btree and PostgreSQL's `varchar_pattern_ops` twin were
upkeep on every event written and read by no query. Measured at 1.2 million events: inserting
24,000 events took 601-644 ms without them against 679-758 ms with them (a rolled-back
transaction each, alternating), about a seventh of the insert.

As in 0007, dropped (and in reverse built) CONCURRENTLY on PostgreSQL (core.migration_ops), so
not atomic. The state's AlterField removes db_index.
"""

from django.db import migrations, models

from core.migration_ops import create_index, drop_index

PLAIN = "audit_auditevent_actor_ref_290df6d9"
PATTERN = "audit_auditevent_actor_ref_290df6d9_like"


def drop(apps, schema_editor):
    for name in (PATTERN, PLAIN):
        drop_index(schema_editor, name)


def create(apps, schema_editor):
    create_index(schema_editor, PLAIN, "audit_auditevent", "actor_ref")
    if schema_editor.connection.vendor == "postgresql":
        create_index(schema_editor, PATTERN, "audit_auditevent", "actor_ref varchar_pattern_ops")


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
