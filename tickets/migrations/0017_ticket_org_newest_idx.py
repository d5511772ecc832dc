"""An organisation's tickets of every state, newest first, from one index.

The portal's "all" list and the API's list order a customer's tickets by `-created_at, -id`;
ticket_org_idx (organisation, status, -created_at) serves them only state by state, so a page
of all of them walked the whole table's `created_at` index, dropping other customers' rows:
170 ms for page 2,409 of the largest customer's 120,000 tickets at a million, 12 ms with this
index (docs/performance.md, "A million tickets").
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0016_ticket_scope_covering_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["organisation", "-created_at", "-id"], name="ticket_org_newest_idx"
            ),
        ),
    ]
