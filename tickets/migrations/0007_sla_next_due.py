"""The list's urgency key: Ticket.sla_next_due (the nearest running target's due time), its
index, and the value for every existing ticket (tickets.services.sla.next_due, restated here
as migrations must not import the code they outlive)."""

from django.db import migrations, models

STOPPED = ("resolved", "closed")
BATCH = 2000


def next_due(t):
    if t.sla_policy_id is None or t.sla_paused_at is not None or t.status in STOPPED:
        return None
    due = []
    if t.first_responded_at is None and t.first_response_due:
        due.append(t.first_response_due)
    if t.next_reply_due:
        due.append(t.next_reply_due)
    if t.resolved_at is None and t.resolution_due:
        due.append(t.resolution_due)
    return min(due, default=None)


def fill(apps, schema_editor):
    Ticket = apps.get_model("tickets", "Ticket")
    # Only tickets whose clock runs can have a due time; the rest stay NULL.
    running = (
        Ticket.objects.filter(sla_policy__isnull=False, sla_paused_at__isnull=True)
        .exclude(status__in=STOPPED)
        .only(
            "pk",
            "status",
            "sla_policy_id",
            "sla_paused_at",
            "first_responded_at",
            "first_response_due",
            "next_reply_due",
            "resolved_at",
            "resolution_due",
        )
        .order_by("pk")
    )
    batch = []
    for ticket in running.iterator(chunk_size=BATCH):
        ticket.sla_next_due = next_due(ticket)
        batch.append(ticket)
        if len(batch) >= BATCH:
            Ticket.objects.bulk_update(batch, ["sla_next_due"])
            batch = []
    if batch:
        Ticket.objects.bulk_update(batch, ["sla_next_due"])


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0006_attachment_scan_status"),
    ]

    operations = [
        migrations.AddField(
            model_name="ticket",
            name="sla_next_due",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="next SLA due"
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["sla_next_due", "id"], name="ticket_next_due_idx"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
