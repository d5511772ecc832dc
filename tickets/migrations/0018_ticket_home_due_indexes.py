"""An agent's and a queue's active tickets by their nearest due time, for the agents' home.

Each block of the home (my tickets, due within the hour, unassigned in my queues, callbacks)
shows the five most urgent of its tickets in the list's order (`sla_next_due`, then the key).
Without an index that starts with the assignee or the queue and goes on with that order, the
block sorted every one of the agent's active tickets: 1.66 s for an agent holding 55,000 at a
million (docs/performance.md, "A million tickets"). Partial (active tickets only): the
resolved and closed majority of a desk's history is not in them; the callbacks block has a
small index of its own (callbacks are few, and a queue's index would read past every other
ticket of the queue to find them).

On PostgreSQL the indexes are built CONCURRENTLY (a plain build blocks every write to the
tickets while it reads them), so the migration is not atomic; an index left invalid by an
interrupted build is dropped and built again. Elsewhere they are ordinary AddIndex.
"""

from django.db import migrations, models

ACTIVE = ("new", "open", "waiting", "on_hold")
# name: (the leading column or None, whether only callbacks)
INDEXES = {
    "ticket_assignee_due_idx": ("assignee", False),
    "ticket_queue_due_idx": ("queue", False),
    "ticket_callback_due_idx": (None, True),
}


def _index(name: str, spec: tuple[str | None, bool]) -> models.Index:
    column, callbacks = spec
    condition = models.Q(status__in=ACTIVE)
    if callbacks:
        condition = models.Q(channel="callback", status__in=ACTIVE)
    return models.Index(
        fields=[*([column] if column else []), "sla_next_due", "id"],
        name=name,
        condition=condition,
    )


def _sql(name: str, spec: tuple[str | None, bool]) -> str:
    column, callbacks = spec
    columns = f"{column}_id, sla_next_due, id" if column else "sla_next_due, id"
    statuses = ", ".join(f"'{status}'" for status in ACTIVE)
    where = f"status IN ({statuses})" + (" AND channel = 'callback'" if callbacks else "")
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON tickets_ticket ({columns}) "
        f"WHERE {where}"
    )


def create(apps, schema_editor):
    ticket = apps.get_model("tickets", "Ticket")
    for name, spec in INDEXES.items():
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.add_index(ticket, _index(name, spec))
            continue
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s",
                [name],
            )
            row = cursor.fetchone()
        if row and row[0]:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(_sql(name, spec))


def drop(apps, schema_editor):
    ticket = apps.get_model("tickets", "Ticket")
    for name, spec in INDEXES.items():
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.remove_index(ticket, _index(name, spec))
            continue
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tickets", "0017_ticket_org_newest_idx"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(model_name="ticket", index=_index(name, spec))
                for name, spec in INDEXES.items()
            ],
            database_operations=[migrations.RunPython(create, drop, elidable=False)],
        ),
    ]
