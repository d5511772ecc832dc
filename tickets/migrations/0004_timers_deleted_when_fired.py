# Fired SLA timers are deleted by the scan, which raises the ticket's mark of the highest
# threshold fired per target (Ticket.<target>_fired), instead of being kept with a fired_at
# stamp: marking a timer took it out of the partial index's condition, so every fired timer
# was a new row version with new index entries.

from django.db import migrations, models
from django.db.models import Max

FIELD = {
    "first_response": "first_response_fired",
    "next_reply": "next_reply_fired",
    "resolution": "resolution_fired",
}


def fold_fired_timers(apps, schema_editor):
    """Raise each ticket's marks to its fired timers' highest percent, then delete them."""
    Timer = apps.get_model("tickets", "SLATimer")
    Ticket = apps.get_model("tickets", "Ticket")
    fired = Timer.objects.filter(fired_at__isnull=False)
    highest = (
        fired.values("ticket_id", "target").annotate(top=Max("percent")).order_by("ticket_id")
    )
    marks: dict[int, dict[str, int]] = {}
    for row in highest.iterator(chunk_size=5000):
        marks.setdefault(row["ticket_id"], {})[FIELD[row["target"]]] = row["top"]
        if len(marks) >= 2000:
            _save(Ticket, marks)
            marks = {}
    _save(Ticket, marks)
    fired.delete()


def _save(Ticket, marks):
    tickets = list(Ticket.objects.filter(pk__in=list(marks)).only("pk", *FIELD.values()))
    for ticket in tickets:
        for field, top in marks[ticket.pk].items():
            setattr(ticket, field, max(getattr(ticket, field), top))
    Ticket.objects.bulk_update(tickets, list(FIELD.values()), batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0003_fewer_ticket_indexes"),
    ]

    operations = [
        *(
            migrations.AddField(
                model_name="ticket",
                name=name,
                field=models.PositiveSmallIntegerField(default=0, editable=False),
            )
            for name in FIELD.values()
        ),
        # Not reversible: the instants of firing are not kept.
        migrations.RunPython(fold_fired_timers, migrations.RunPython.noop, elidable=True),
        migrations.RemoveIndex(
            model_name="slatimer",
            name="sla_timer_pending_idx",
        ),
        migrations.RemoveField(
            model_name="slatimer",
            name="fired_at",
        ),
        migrations.AddIndex(
            model_name="slatimer",
            index=models.Index(fields=["fire_at"], name="sla_timer_due_idx"),
        ),
    ]
