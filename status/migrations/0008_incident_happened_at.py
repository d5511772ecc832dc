"""Incident updates keep when they were typed (posted_at) beside when they happened (at)."""

import django.utils.timezone
from django.db import migrations, models


def posted_when_happened(apps, schema_editor):
    """Before this migration an update happened when it was typed (or was recorded after the
    fact with its own time, the nearest we know of its typing)."""
    IncidentUpdate = apps.get_model("status", "IncidentUpdate")
    IncidentUpdate.objects.update(posted_at=models.F("at"))


class Migration(migrations.Migration):
    dependencies = [("status", "0007_translated_labels")]

    operations = [
        migrations.AlterField(
            model_name="incidentupdate",
            name="at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, verbose_name="happened at"
            ),
        ),
        migrations.AddField(
            model_name="incidentupdate",
            name="posted_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, editable=False, verbose_name="posted at"
            ),
        ),
        migrations.RunPython(posted_when_happened, migrations.RunPython.noop),
    ]
