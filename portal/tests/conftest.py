"""Portal fixtures: the ticket fixtures (policies, queue, units), shipments and a signed-in
customer."""

from __future__ import annotations

import pytest

from logistics.tests.conftest import agent, make_shipment  # noqa: F401 (fixtures)
from status.tests.conftest import components  # noqa: F401 (fixture)
from testsupport import sign_in
from tickets.tests.conftest import (  # noqa: F401 (fixtures)
    machine,
    make_unit,
    open_ticket,
    queue_setup,
    sla_setup,
)


@pytest.fixture
def customer(make_customer):
    return make_customer(full_name="陈工 Chen Gong")


@pytest.fixture
def portal(client, customer):
    """A test client signed in as the customer, on a desk that has served a page already: the
    status banner's summary is in the shared cache (as it is all day in production), so a
    page's query count is its own, not the first visitor's of the day."""
    signed_in = sign_in(client, customer)
    signed_in.get("/portal/")
    return signed_in
