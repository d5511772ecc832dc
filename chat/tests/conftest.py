"""Chat fixtures: the ticket fixtures (queue with agents), a customer, socket helpers."""

from __future__ import annotations

from tickets.tests.conftest import (  # noqa: F401 (fixtures)
    machine,
    make_unit,
    queue_setup,
    sla_setup,
)
