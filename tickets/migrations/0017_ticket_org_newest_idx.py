"""An organisation's tickets of every state, newest first, from one index.

The portal's "all" list and the API's list order a customer's tickets by `-created_at, -id`;
ticket_org_idx (organisation, status, -created_at) serves them only state by state, so a page
of all of them walked the whole table's `created_at` index, dropping other customers' rows:
170 ms for page 2,409 of the largest customer's 120,000 tickets at a million, 12 ms with this
index (docs/performance.md, "A million tickets").

On PostgreSQL the index is built CONCURRENTLY (a plain build blocks every write to the
tickets for as long as it reads them: ticket intake stops during the upgrade), so the
migration is not atomic; an index left invalid by an interrupted build is dropped and built
again. Elsewhere it is an ordinary AddIndex.
"""

from django.db import migrations, models

NAME = "ticket_org_newest_idx"
INDEX = models.Index(fields=["organisation", "-created_at", "-id"], name=NAME)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(apps.get_model("tickets", "Ticket"), INDEX)
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [NAME],
        )
        row = cursor.fetchone()
    if row and row[0]:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} "
        "ON tickets_ticket (organisation_id, created_at DESC, id DESC)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(apps.get_model("tickets", "Ticket"), INDEX)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tickets", "0016_ticket_scope_covering_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="ticket", index=INDEX)],
            database_operations=[migrations.RunPython(create, drop, elidable=False)],
        ),
    ]
