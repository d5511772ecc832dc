"""Fixtures for compensation: components, a resolved incident, units, policies, people."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Region
from compensation.models import EventKind, Policy, PolicyTier
from status.models import Component, ComponentGroup, ComponentKind, Severity
from tickets.tests import conftest as ticket_fixtures

HOURS = 2
# The tickets app's machine model and SLA policies, shared rather than copied.
machine = ticket_fixtures.machine
sla_setup = ticket_fixtures.sla_setup


@pytest.fixture(autouse=True)
def _fresh_summary():
    """The status page's cached summary must not outlive a test's database."""
    from status.selectors import forget_summary

    forget_summary()
    yield
    forget_summary()


@pytest.fixture
def components(db):
    group = ComponentGroup.objects.create(key="lines", name_en="Lines", name_zh="线路")
    return {
        "east": Component.objects.create(
            group=group,
            key="hotline-east",
            name_en="Hotline East",
            name_zh="华东热线",
            kind=ComponentKind.HOTLINE,
            region=Region.objects.get(code="east"),
        ),
        "chat": Component.objects.create(
            group=group, key="chat", name_en="Chat", name_zh="在线客服", kind=ComponentKind.CHAT
        ),
    }


@pytest.fixture
def window():
    """A two-hour outage that ended an hour ago."""
    end = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    return end - dt.timedelta(hours=HOURS), end


@pytest.fixture
def make_incident(db, components, window):
    from status import services

    def make(*, severity="sev2", parts=("east",), resolve=True, start=None, end=None):
        start = start or window[0]
        end = end or window[1]
        incident = services.incident_open(
            actor="system",
            severity=Severity.objects.get(key=severity),
            title_en="Hotline East down",
            title_zh="华东热线中断",
            components={components[p]: "major_outage" for p in parts},
            body_en="Calls do not reach us.",
            body_zh="电话无法接通。",
            cause_en="A carrier trunk failed.",
            cause_zh="运营商中继故障。",
            started_at=start,
        )
        if resolve:
            services.incident_update(
                incident=incident,
                actor="system",
                state="resolved",
                body_en="Calls work again.",
                body_zh="电话已恢复。",
                at=end,
            )
            incident.refresh_from_db()
        return incident

    return make


@pytest.fixture
def make_unit(db, machine):
    from equipment import services

    counter = {"n": 0}

    def make(org, **fields):
        counter["n"] += 1
        fields.setdefault("installed_on", dt.date(2025, 6, 1))
        fields.setdefault("warranty_ends_on", timezone.localdate() + dt.timedelta(days=200))
        return services.unit_create(
            actor=None,
            serial_number=f"HW2000-{counter['n']:05d}",
            machine_model=machine,
            organisation=org,
            **fields,
        )

    return make


@pytest.fixture
def make_ticket(sla_setup):
    from tickets.services.tickets import ticket_open

    def make(customer, *, at, **fields):
        fields.setdefault("subject", "Porosity in stainless seams")
        fields.setdefault("body", "Since this morning every seam shows pores.")
        return ticket_open(
            actor=customer,
            organisation=customer.organisation,
            requester=customer,
            now=at,
            **fields,
        )

    return make


@pytest.fixture
def make_affected(make_org, make_customer, make_unit, make_ticket, window):
    """A customer whose organisation owns a unit in warranty and opened a ticket during the
    outage: affected by the outage policy."""

    def make(name: str, *, tier: str = "plus", minutes: int = 20):
        customer = make_customer(make_org(name, tier=tier))
        make_unit(customer.organisation)
        make_ticket(customer, at=window[0] + dt.timedelta(minutes=minutes))
        return customer

    return make


def _terms(policy, rows):
    for tier, per_hour, most, voucher, priority in rows:
        PolicyTier.objects.create(
            policy=policy,
            tier=tier,
            warranty_days_per_hour=Decimal(per_hour),
            warranty_days_max=most,
            voucher_value=Decimal(voucher),
            priority_days=priority,
        )


@pytest.fixture
def outage_policy(db):
    policy = Policy.objects.create(
        name="Outage", position=1, event=EventKind.INCIDENT, max_severity_rank=2
    )
    _terms(
        policy,
        [
            ("standard", "0.50", 14, "500", 0),
            ("plus", "1.00", 30, "1000", 7),
            ("premium", "5.00", 8, "2000", 14),
        ],
    )
    return policy


@pytest.fixture
def breach_policy(db):
    policy = Policy.objects.create(
        name="Late P1/P2", position=2, event=EventKind.TICKET_BREACH, max_priority=2
    )
    _terms(policy, [("standard", "0.25", 7, "0", 0), ("premium", "1.00", 30, "1000", 14)])
    return policy


@pytest.fixture
def supervisor(make_staff):
    return make_staff(roles=("supervisor",), email="lead@welddesk.example")


# ------------------------------------------------------------------- the reports' data


@pytest.fixture
def report_components(components):
    """The east hotline and the nationwide chat, and a southern hotline."""
    south = Component.objects.create(
        group=components["east"].group,
        key="hotline-south",
        name_en="Hotline South",
        name_zh="华南热线",
        kind=ComponentKind.HOTLINE,
        region=Region.objects.get(code="south"),
    )
    return {**components, "south": south}


@pytest.fixture
def make_incidents(report_components):
    """Incidents written straight to the tables (bulk), for the reports: each a dict with
    title, start, end (None: open), parts (component names), published (default True) and
    severity (default sev2)."""
    from status.models import Incident, IncidentComponent, IncidentState

    def make(rows: list[dict]):
        severities = {s.key: s for s in Severity.objects.all()}
        incidents = Incident.objects.bulk_create(
            Incident(
                title_en=row["title"],
                title_zh=row.get("title_zh", ""),
                severity=severities[row.get("severity", "sev2")],
                state=IncidentState.RESOLVED if row.get("end") else IncidentState.INVESTIGATING,
                started_at=row["start"],
                resolved_at=row.get("end"),
                published_at=row["start"] if row.get("published", True) else None,
                created_by="test",
            )
            for row in rows
        )
        IncidentComponent.objects.bulk_create(
            IncidentComponent(
                incident=incident, component=report_components[part], impact="major_outage"
            )
            for incident, row in zip(incidents, rows, strict=True)
            for part in row.get("parts", ())
        )
        return incidents

    return make


@pytest.fixture
def make_grants(outage_policy):
    """Grants written straight to the table (bulk), for the reports: each a dict of Grant
    fields (organisation, kind, status, days, amount, applied_at, reversed_at ...) and
    optionally the `incident` whose assessment gave it (or the `assessment` itself); each
    without either gets an assessment of its own."""
    from compensation.models import Assessment, Grant

    counter = {"n": 0}

    def assessment_of(incident):
        counter["n"] += 1
        key = f"incident:{incident.pk}" if incident else f"report-test:{counter['n']}"
        start = incident.started_at if incident else timezone.now()
        found, _created = Assessment.objects.get_or_create(
            key=key,
            defaults={
                "event": EventKind.INCIDENT,
                "incident": incident,
                "window_start": start,
                "window_end": start + dt.timedelta(hours=1),
                "hours": Decimal("1.00"),
                "assessed_by": "test",
            },
        )
        return found

    def make(rows: list[dict]):
        grants = []
        for row in rows:
            row = dict(row)
            if "assessment" not in row:
                row["assessment"] = assessment_of(row.pop("incident", None))
            grants.append(
                Grant(
                    policy=outage_policy,
                    tier=row.pop("tier", "plus"),
                    **row,
                )
            )
        return Grant.objects.bulk_create(grants)

    return make
