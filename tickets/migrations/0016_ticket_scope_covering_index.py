"""PostgreSQL only: the ticket's organisation beside its key, for a regional agent's search.

An agent sees the tickets of their regions, so a search's matches (ticket keys from the
search index) are checked against the region's tickets: PostgreSQL probes the tickets'
primary key for each match and then reads the ticket row for its organisation, a heap
fetch per match. At a million tickets a word of 8,000 matches cost an East China agent
about 280 ms of database time that way (docs/performance.md, "Search"). With the
organisation included in an index on the key, each probe is an index-only scan of a narrow
index (no heap fetch): 27-46 ms measured on the same million.

Built CONCURRENTLY (no lock on writes while the million rows are read; a few seconds), so
the migration is not atomic. On SQLite (no INCLUDE) it does nothing: SQLite has no
parallel plans nor heap fetches to save here.
"""

from django.db import migrations

NAME = "ticket_id_org_cover"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} "
        "ON tickets_ticket (id) INCLUDE (organisation_id)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tickets", "0015_searchterm_term_statistics"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
