"""Migrations that move data: a desk upgraded in place keeps what it knew."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tickets.models import SLATimer, Ticket, TimerKind

BEFORE = [("tickets", "0003_fewer_ticket_indexes")]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def migrate_to_latest() -> None:
    """Every app to its newest migration (going back also unapplied the apps built on tickets)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_fired_timers_become_the_tickets_marks(open_ticket):
    ticket = open_ticket()
    other = open_ticket()
    timers = {(t.target, t.kind, t.percent): t.pk for t in SLATimer.objects.filter(ticket=ticket)}
    fired = [
        timers[("first_response", TimerKind.WARNING, 75)],
        timers[("first_response", TimerKind.BREACH, 100)],
        timers[("resolution", TimerKind.WARNING, 75)],
    ]
    pending = SLATimer.objects.count() - len(fired)
    migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            # As the scan of 0003 left them: marked fired, still in the table.
            cursor.execute(
                "UPDATE tickets_slatimer SET fired_at = fire_at WHERE id IN (%s, %s, %s)", fired
            )
    finally:
        migrate_to_latest()
    assert SLATimer.objects.count() == pending  # the fired ones are gone, the rest stay
    assert not SLATimer.objects.filter(pk__in=fired).exists()
    marks = Ticket.objects.values_list(
        "first_response_fired", "next_reply_fired", "resolution_fired"
    )
    assert marks.get(pk=ticket.pk) == (100, 0, 75)
    assert marks.get(pk=other.pk) == (0, 0, 0)
