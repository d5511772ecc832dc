"""Compensation: assess an outage that touched 100,000 customers, assess it again, approve.

The scene: a resolved two-hour SEV1 on the East hotline. 100,000 East organisations (a third
on each contract tier) opened a ticket during it and own a unit in warranty; 20,000 of them
also chatted, and 5,000 known callers phoned the East line. The rows are inserted in batches
(the benchmark measures the assessment, not the seeding). The outage policy gives every tier a
warranty extension and a voucher and two tiers priority service: about 270,000 grants.

Figures: the first assessment (target: under 60 s on PostgreSQL), a second run (proposes
nothing), and approval throughput (target: 1,500 grants/s) on a sample of grants, or on every
grant of the assessment with BENCH_APPROVE_ALL=1 (what a supervisor's "approve all" does);
BENCH_PROFILE=1 prints where the approval spends its time.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import os
import pstats
import time
from decimal import Decimal

from django.test import override_settings
from django.utils import timezone

from accounts.models import Organisation, Region, Tier, User
from chat.models import Conversation
from compensation import services
from compensation.models import EventKind, Grant, GrantStatus, Policy, PolicyTier
from equipment.models import MachineModel, ProductLine, Unit
from intake.models import Call
from status import services as status_services
from status.models import Component, ComponentGroup, ComponentKind, Incident, Severity
from tickets.models import Status, Ticket

CUSTOMERS = 100_000
CHATS = 20_000
CALLERS = 5_000
APPROVE_SAMPLE = 2_000
BATCH = 5_000
TIERS = [Tier.STANDARD, Tier.PLUS, Tier.PREMIUM]


def _batches(rows, size=BATCH):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _seed(customers: int, chats: int, callers: int) -> Incident:
    east = Region.objects.get(code="east")
    group = ComponentGroup.objects.create(key="bench", name_en="Bench", name_zh="基准")
    line = Component.objects.create(
        group=group,
        key="hotline-east",
        name_en="Hotline East",
        name_zh="华东热线",
        kind=ComponentKind.HOTLINE,
        region=east,
    )
    end = timezone.now() - dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=2)
    inside = start + dt.timedelta(minutes=30)
    model = MachineModel.objects.create(
        code="bench-hw",
        name="Bench welder",
        product_line=ProductLine.HANDHELD,
        wavelength_nm=1080,
        max_power_w=2000,
    )
    t0 = time.perf_counter()
    for chunk in _batches(range(customers)):
        orgs = Organisation.objects.bulk_create(
            [Organisation(name=f"Bench Org {n:06d}", region=east, tier=TIERS[n % 3]) for n in chunk]
        )
        Ticket.objects.bulk_create(
            [
                Ticket(
                    reference=f"WD-B{n:07d}",
                    organisation=org,
                    subject="Line stopped",
                    status=Status.NEW,
                    created_at=inside,
                    contract_tier=org.tier,
                )
                for n, org in zip(chunk, orgs, strict=True)
            ]
        )
        Unit.objects.bulk_create(
            [
                Unit(
                    serial_number=f"BENCH-{n:07d}",
                    machine_model=model,
                    organisation=org,
                    installed_on=dt.date(2025, 1, 1),
                    warranty_ends_on=dt.date(2028, 1, 1),
                    contract_tier=org.tier,
                )
                for n, org in zip(chunk, orgs, strict=True)
            ]
        )
    org_ids = list(
        Organisation.objects.filter(name__startswith="Bench Org")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    people = []
    for n, org_id in enumerate(org_ids[: max(chats, callers)]):
        people.append(
            User(
                email=f"bench{n}@factory.example",
                full_name=f"Bench {n}",
                phone=f"+86 139 {n:08d}"[:20],
                organisation_id=org_id,
            )
        )
    for chunk in _batches(people):
        User.objects.bulk_create(chunk)
    users = list(
        User.objects.filter(
            organisation_id__gte=org_ids[0], organisation_id__lte=org_ids[len(people) - 1]
        ).order_by("pk")
    )
    Conversation.objects.bulk_create(
        [
            Conversation(organisation_id=u.organisation_id, customer=u, created_at=inside)
            for u in users[:chats]
        ],
        batch_size=BATCH,
    )
    Call.objects.bulk_create(
        [
            Call(call_id=f"bench-{n}", line="east", caller=u.phone, started_at=inside)
            for n, u in enumerate(users[:callers])
        ],
        batch_size=BATCH,
    )
    print(f"  seeded {customers:,} customers in {time.perf_counter() - t0:.1f} s", flush=True)
    incident = status_services.incident_open(
        actor="system",
        severity=Severity.objects.get(key="sev1"),
        title_en="Hotline East down",
        title_zh="华东热线中断",
        components={line: "major_outage"},
        body_en="Calls fail.",
        body_zh="电话无法接通。",
        started_at=start,
    )
    status_services.incident_update(
        incident=incident,
        actor="system",
        state="resolved",
        body_en="Back.",
        body_zh="已恢复。",
        at=end,
    )
    incident.refresh_from_db()
    return incident


def _policy() -> None:
    policy = Policy.objects.create(
        name="Bench outage", event=EventKind.INCIDENT, max_severity_rank=2
    )
    for tier, priority in ((Tier.STANDARD, 0), (Tier.PLUS, 7), (Tier.PREMIUM, 14)):
        PolicyTier.objects.create(
            policy=policy,
            tier=tier,
            warranty_days_per_hour=Decimal("1.00"),
            warranty_days_max=30,
            voucher_value=Decimal("500"),
            priority_days=priority,
        )


def run(*, scale: float = 1.0) -> dict:
    # Measured as production runs: DEBUG off (no per-query SQL logging).
    with override_settings(DEBUG=False):
        return _run(scale)


def _run(scale: float) -> dict:
    customers = int(CUSTOMERS * scale)
    incident = _seed(customers, int(CHATS * scale), int(CALLERS * scale))
    _policy()
    start = time.perf_counter()
    first = services.assess_incident(incident=incident, actor=None)
    first_s = time.perf_counter() - start
    print(
        f"  assess:        {first_s:8.1f} s  ({first.organisations:,} customers, "
        f"{first.proposed:,} grants proposed)",
        flush=True,
    )
    start = time.perf_counter()
    again = services.assess_incident(incident=incident, actor=None)
    again_s = time.perf_counter() - start
    assert again.proposed == 0
    print(f"  assess again:  {again_s:8.1f} s  (nothing new proposed)", flush=True)
    proposed = Grant.objects.filter(status=GrantStatus.PROPOSED).order_by("pk")
    if os.environ.get("BENCH_APPROVE_ALL") == "1":
        sample = list(proposed.values_list("pk", flat=True))
    else:
        sample = list(
            proposed.values_list("pk", flat=True)[: int(APPROVE_SAMPLE * max(scale, 0.01))]
        )
    profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") == "1" else None
    start = time.perf_counter()
    if profile is not None:
        profile.enable()
    done = services.grants_approve(grant_ids=sample, actor=None)
    approve_s = time.perf_counter() - start
    if profile is not None:
        profile.disable()
        # Where approval spends its time (BENCH_PROFILE=1): the heaviest calls, cumulative.
        pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
    rate = done.done / approve_s if approve_s else 0.0
    print(
        f"  approve:       {rate:8.0f} grants/s  ({done.done:,} applied and notified "
        f"in {approve_s:.1f} s)",
        flush=True,
    )
    return {
        "customers": first.organisations,
        "grants": first.proposed,
        "assess_s": round(first_s, 1),
        "assess_again_s": round(again_s, 1),
        "approved": done.done,
        "approve_s": round(approve_s, 1),
        "approve_per_s": round(rate),
    }
