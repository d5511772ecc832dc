"""Chat fixtures: the ticket fixtures (queue with agents), a customer, socket helpers, and
the logistics fixtures for the bot's shipment answers."""

from __future__ import annotations

from logistics.tests.conftest import agent, make_shipment  # noqa: F401 (fixtures)
from tickets.tests.conftest import (  # noqa: F401 (fixtures)
    machine,
    make_unit,
    open_ticket,
    queue_setup,
    sla_setup,
)
