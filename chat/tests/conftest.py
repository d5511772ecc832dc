"""Chat fixtures: the ticket fixtures (queue with agents), a customer, socket helpers, and
the logistics fixtures for the bot's shipment answers."""

from __future__ import annotations

import pytest

from logistics.tests.conftest import agent, make_shipment  # noqa: F401 (fixtures)
from tickets.tests.conftest import (  # noqa: F401 (fixtures)
    machine,
    make_unit,
    open_ticket,
    queue_setup,
    sla_setup,
)


@pytest.fixture
def make_chats(db):
    """Conversations written straight to the table (bulk), for the reports: each item a dict
    of the fields that matter (created_at, accepted_at, status, agent, queue, organisation,
    customer); the customer defaults to one of the organisation's."""
    from chat.models import Conversation

    def make(rows: list[dict]) -> list[Conversation]:
        return Conversation.objects.bulk_create(Conversation(**row) for row in rows)

    return make
