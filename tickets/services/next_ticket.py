"""'Next ticket': an agent takes the most urgent unassigned ticket of their queues.

Two agents pressing at once must never get the same ticket, and neither may wait on the
other: the candidate is locked with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL), so the
second agent passes over the row the first holds and takes the next one. The assignment is
the ordinary audited one (tickets.services.tickets.ticket_assign), guarded by the version
read with the lock, so even a database without row locks (SQLite in development) never
assigns a ticket twice: a ticket changed meanwhile is a conflict, and the next is tried.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from core.errors import Conflict
from tickets.models import Ticket
from tickets.services.tickets import ticket_assign

# Conflicts tolerated before giving up (each one means another agent took that ticket).
ATTEMPTS = 5


def ticket_take_next(*, agent: Any, candidates: QuerySet) -> Ticket | None:
    """Assign the first ticket of `candidates` nobody else holds to the agent; None if none.

    `candidates` is tickets.selectors.next_ticket_candidates: unassigned, the agent's queues
    and regions, most urgent first.
    """
    for _attempt in range(ATTEMPTS):
        with transaction.atomic():
            ticket = (
                candidates.select_for_update(skip_locked=True, of=("self",))
                .only("pk", "version")
                .first()
            )
            if ticket is None:
                return None
            try:
                with transaction.atomic():
                    return ticket_assign(
                        ticket=ticket, agent=agent, actor=agent, expected_version=ticket.version
                    )
            except Conflict:
                continue
    return None
