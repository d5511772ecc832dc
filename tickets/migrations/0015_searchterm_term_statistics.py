"""PostgreSQL only: what the planner knows of the search index's terms.

ANALYZE samples 30,000 rows of the index and from them guesses the number of distinct
terms far too low at a million tickets, where there are three million (every ticket's
reference alone gives three): it expected 4,900 rows for any term not among its most common
values, a rare serial number or a reference too. For the API's and the portal's list (newest first, 25 a
page) that guess made PostgreSQL walk the tickets newest first and probe the index for each,
looking for 25 matches among the one that exists: 1.4-2.5 s at a million tickets for a
reference, a serial, an e-mail or a word found nowhere (EXPLAIN ANALYZE,
docs/performance.md). With the number of distinct terms set as a share of the rows (it
stays near one in twenty-two at every size: the references and the vocabulary grow with
the tickets) and 1,000 most common values kept (the frequent words, whose counts matter
most), the same statements take 9-30 ms.

On SQLite every operation here does nothing.
"""

from django.db import migrations

# Distinct terms per index row: 3,075,949 of 68,269,242 at a million tickets (bench/search.py).
DISTINCT_SHARE = 0.045
STATISTICS = 1000


def set_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"ALTER TABLE tickets_searchterm ALTER COLUMN term SET (n_distinct = -{DISTINCT_SHARE})"
    )
    schema_editor.execute(
        f"ALTER TABLE tickets_searchterm ALTER COLUMN term SET STATISTICS {STATISTICS}"
    )


def reset_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("ALTER TABLE tickets_searchterm ALTER COLUMN term RESET (n_distinct)")
    schema_editor.execute("ALTER TABLE tickets_searchterm ALTER COLUMN term SET STATISTICS -1")


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0014_ticket_reference_sequence"),
    ]

    operations = [migrations.RunPython(set_statistics, reset_statistics, elidable=False)]
