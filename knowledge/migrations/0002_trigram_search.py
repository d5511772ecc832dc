"""PostgreSQL only: the pg_trgm extension and trigram GIN indexes for article search.

On SQLite every operation here does nothing: the selectors fall back to term matching.
The plain column indexes serve the word-similarity operator (`title %> term`); the UPPER()
indexes serve Django's icontains on PostgreSQL (`UPPER(col::text) LIKE UPPER(...)`).
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = [
    ("knowledge_article_title_trgm", "title gin_trgm_ops"),
    ("knowledge_article_body_trgm", "body gin_trgm_ops"),
    ("knowledge_article_title_up_trgm", "(UPPER(title::text)) gin_trgm_ops"),
    ("knowledge_article_body_up_trgm", "(UPPER(body::text)) gin_trgm_ops"),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON knowledge_article USING gin ({expression})"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _expression in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0001_initial"),
    ]

    operations = [
        # CreateExtension itself does nothing on databases other than PostgreSQL.
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
