"""References from one PostgreSQL sequence per year (tickets.services.references).

Creates the sequence of every year that has a counter row, starting after its last number,
so references go on where the counter stopped. Nothing on other databases (SQLite keeps the
counter rows). Reversing drops the sequences; the counter rows were left as they were, so
set them from the sequences' values first if tickets were opened since.
"""

from django.db import migrations


def create_sequences(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    counter = apps.get_model("tickets", "TicketCounter")
    for year, last in counter.objects.values_list("year", "last"):
        schema_editor.execute(
            f"CREATE SEQUENCE IF NOT EXISTS tickets_reference_{int(year)} AS bigint "
            f"START WITH {int(last) + 1}"
        )


def drop_sequences(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequencename FROM pg_sequences WHERE sequencename LIKE 'tickets_reference_%'"
        )
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0013_ticket_reopens")]

    operations = [migrations.RunPython(create_sequences, drop_sequences)]
