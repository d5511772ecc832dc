"""Fixtures for ticket tests: calendar and policies, a queue with agents, units."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    """Return a Shanghai wall-clock instant."""
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def sla_setup(db):
    from tickets.defaults import ensure_calendar, ensure_policies, ensure_priority_rules
    from tickets.services import references

    # References start at 1 in every test (a sequence is not rolled back with the test).
    references.reset_sequences()

    calendar = ensure_calendar()
    ensure_policies(calendar)
    ensure_priority_rules()
    return calendar


@pytest.fixture
def machine(db):
    from equipment.models import MachineModel, ProductLine

    return MachineModel.objects.create(
        code="hw-2000",
        name="HW-2000 handheld welder 2 kW",
        product_line=ProductLine.HANDHELD,
        wavelength_nm=1080,
        max_power_w=2000,
    )


@pytest.fixture
def make_unit(db, machine):
    from equipment import services

    counter = {"n": 0}

    def make(org, **fields):
        counter["n"] += 1
        fields.setdefault("installed_on", dt.date(2025, 6, 1))
        fields.setdefault("contract_tier", "premium")
        return services.unit_create(
            actor=None,
            serial_number=f"HW2000-{counter['n']:05d}",
            machine_model=machine,
            organisation=org,
            **fields,
        )

    return make


@pytest.fixture
def queue_setup(db, make_staff, region):
    from tickets.models import Queue, QueueMember

    supervisor = make_staff(roles=("supervisor",), email="lead@welddesk.example")
    agents = [make_staff(email=f"agent{i}@welddesk.example") for i in (1, 2, 3)]
    queue = Queue.objects.create(
        name="East handheld",
        slug="east-handheld",
        region=region,
        product_line="handheld",
        supervisor=supervisor,
    )
    for agent in agents:
        QueueMember.objects.create(queue=queue, agent=agent)
    return queue, supervisor, agents


@pytest.fixture
def open_ticket(sla_setup, queue_setup, make_customer, make_unit):
    from tickets.services.tickets import ticket_open

    def make(customer=None, *, unit=None, now=None, **fields):
        customer = customer or make_customer()
        if unit is None:
            unit = make_unit(customer.organisation)
        fields.setdefault("subject", "Porosity in stainless seams")
        fields.setdefault("body", "Since this morning every seam shows pores.")
        fields.setdefault("priority", 3)
        return ticket_open(
            actor=customer,
            organisation=customer.organisation,
            requester=customer,
            unit=unit or None,
            now=now or at(2026, 3, 2, 9, 0),
            **fields,
        )

    return make


@pytest.fixture
def ticket_row(db):
    """Write a ticket row as it stands (dates, status, SLA verdicts), bypassing the services:
    what the reports read, without replaying each ticket's history."""
    from tickets.models import Ticket

    counter = {"n": 0}

    def make(organisation, created_at, **fields):
        counter["n"] += 1
        fields.setdefault("subject", f"ticket {counter['n']}")
        return Ticket.objects.create(
            reference=f"T-{counter['n']:06d}",
            organisation=organisation,
            created_at=created_at,
            **fields,
        )

    return make


@pytest.fixture
def agent_client(staff_client):
    """A signed-in agent's client and the agent: (client, user)."""
    return staff_client(roles=("agent",), full_name="Lin Agent")
