"""Chat fixtures: the ticket fixtures (queue with agents), a customer, socket helpers."""

from __future__ import annotations

from tickets.tests.conftest import (  # noqa: F401 (fixtures)
    _fresh_calendar_cache,
    machine,
    make_unit,
    queue_setup,
    sla_setup,
)
