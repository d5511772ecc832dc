"""Seed data for the tickets benchmark: 100,000 open tickets with the SLA state they would have.

Organisations, people, units and queues are made through the services (so they are audited like
real ones); tickets, their timers, messages and 'ticket.opened' audit events are inserted in
batches. Each ticket's due times and timers come from the real SLA code (`sla.clock_for`,
`sla.budget`, `sla._timers`) for its policy and opening instant, and the effects of timers that
fired before the scan instant (warning, breach, escalation level, raised priority) are applied
as `tickets.services.escalation` would have applied them.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import Organisation, Region, Tier, User
from accounts.services import organisation_create, user_create
from audit.services import audit_record_many
from core.fields import StrictEncryptedMixin
from equipment.models import MachineModel, ProductLine, Unit
from equipment.services import unit_create
from testsupport import add_totp
from tickets.defaults import ensure_calendar, ensure_policies
from tickets.models import (
    FIRED_FIELD,
    Channel,
    Kind,
    Message,
    Queue,
    QueueMember,
    SLAPolicy,
    SLATimer,
    Status,
    Target,
    Ticket,
    TimerKind,
)
from tickets.services import assignment, references, sla

OPEN_TICKETS = 100_000  # running SLA clock (new or open), all with pending timers
HISTORY_TICKETS = 20_000  # waiting, on hold, resolved, closed: no pending timers
DUE_TIMERS = 20_000  # pending timers due at the scan instant
ORGANISATIONS = 240
UNITS_PER_ORG = 8
CUSTOMERS_PER_ORG = 3
BATCH = 5_000

MACHINES = [
    ("hw-1500", "HW-1500 handheld welder 1.5 kW", ProductLine.HANDHELD, 1080, 1500),
    ("hw-2000", "HW-2000 handheld welder 2 kW", ProductLine.HANDHELD, 1080, 2000),
    ("rc-6000", "RC-6000 robotic welding cell 6 kW", ProductLine.ROBOTIC, 1070, 6000),
    ("lc-3000", "LC-3000 laser cladding system 3 kW", ProductLine.CLADDING, 1070, 3000),
]
SUBJECTS = [
    "焊缝气孔严重",
    "送丝机卡丝",
    "Robot cell stops with E512 interlock",
    "保护镜片频繁污染",
    "Laser power drops after warm-up",
    "冷却机报警 E203",
    "Seam tracking offset on long welds",
    "备件发货查询",
]
CUSTOMER_TEXT = "今天早上开始焊缝出现问题，请尽快处理。Seams fail since this morning."
AGENT_TEXT = "我们已收到，正在处理。We are on it."
PRIORITY_WEIGHTS = {1: 5, 2: 20, 3: 55, 4: 20}
HISTORY_STATUSES = {Status.RESOLVED: 40, Status.CLOSED: 50, Status.WAITING: 6, Status.ON_HOLD: 4}
CHANNELS = {
    Channel.PORTAL: 45,
    Channel.EMAIL: 20,
    Channel.PHONE: 15,
    Channel.WECOM: 10,
    Channel.API: 5,
    Channel.AGENT: 5,
}
_NO_TICKET = Ticket()


def _pick(rng: random.Random, weights: dict) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


# ---------------------------------------------------------------------------------- the world


@dataclass
class World:
    now: dt.datetime
    orgs: list[Organisation]
    org_weights: list[float]
    units: dict[int, list[Unit]]
    customers: dict[int, list[User]]
    plans: dict[tuple[str, int], sla.Plan]
    queue_for: dict[tuple[int, str], Queue | None]
    agents: dict[int, list[int]]
    supervisor: User
    admin: User
    counts: dict[str, Any] = field(default_factory=dict)

    def queue(self, org: Organisation, unit: Unit | None) -> Queue | None:
        line = unit.machine_model.product_line if unit is not None else ""
        key = (org.region_id, line)
        if key not in self.queue_for:
            # The routing the opening service uses, once per (region, product line).
            self.queue_for[key] = assignment.route_queue(region_id=org.region_id, product_line=line)
        return self.queue_for[key]


def _staff(email: str, name: str, **kwargs: Any) -> User:
    return user_create(email=email, full_name=name, is_staff=True, **kwargs)


@transaction.atomic
def _build_world(*, scale: float, rng: random.Random, now: dt.datetime) -> World:
    """Calendar, policies, staff, queues, organisations, customers and units (via services)."""
    calendar = ensure_calendar()
    ensure_policies(calendar)
    machines = [
        MachineModel.objects.create(
            code=code, name=name, product_line=line, wavelength_nm=nm, max_power_w=watts
        )
        for code, name, line, nm, watts in MACHINES
    ]
    regions = list(Region.objects.order_by("pk"))
    admin = _staff("bench.admin@welddesk.example", "Bench Admin", is_superuser=True)
    add_totp(admin)
    supervisors = [
        _staff(f"supervisor{i}@welddesk.example", f"Supervisor {i}", roles=("supervisor",))
        for i in range(4)
    ]
    regional = {
        region.pk: [
            _staff(
                f"agent.{region.code}.{i}@welddesk.example",
                f"Agent {region.code} {i}",
                roles=("agent",),
                regions=[region],
            ).pk
            for i in range(6)
        ]
        for region in regions
    }
    national = [
        _staff(f"agent.national.{i}@welddesk.example", f"Agent national {i}", roles=("agent",)).pk
        for i in range(6)
    ]
    queues: list[tuple[Queue, list[int]]] = []
    for n, region in enumerate(regions):
        boss = supervisors[n % len(supervisors)]
        for line, members in ((ProductLine.HANDHELD, 4), (ProductLine.ROBOTIC, 3)):
            queue = Queue.objects.create(
                name=f"{region.name_en} · {line}",
                slug=f"{region.code}-{line}",
                region=region,
                product_line=line,
                supervisor=boss,
            )
            agents = regional[region.pk]
            queues.append((queue, agents[:members] if line == ProductLine.HANDHELD else agents[3:]))
    for slug, line in (("cladding", ProductLine.CLADDING), ("general", "")):
        queue = Queue.objects.create(
            name=slug.title(), slug=slug, product_line=line, supervisor=supervisors[0]
        )
        queues.append((queue, national[:3] if line else national[3:]))
    for queue, agents in queues:
        QueueMember.objects.bulk_create(QueueMember(queue=queue, agent_id=a) for a in agents)

    n_orgs = max(12, round(ORGANISATIONS * scale))
    orgs, units, customers = [], {}, {}
    serial = 0
    for i in range(n_orgs):
        region = regions[i % len(regions)]
        org = organisation_create(
            actor=None,
            name=f"{region.name_zh}精工焊接有限公司 {i:03d}",
            name_en=f"{region.name_en} Precision Welding {i:03d}",
            region=region,
            tier=_pick(rng, {Tier.STANDARD: 50, Tier.PLUS: 30, Tier.PREMIUM: 20}),
        )
        orgs.append(org)
        customers[org.pk] = [
            user_create(
                email=f"customer{k}@org{i:03d}.example",
                full_name=f"客户 {i:03d}-{k}",
                organisation=org,
                language=rng.choice(["zh-hans", "en"]),
            )
            for k in range(CUSTOMERS_PER_ORG)
        ]
        units[org.pk] = []
        for _ in range(UNITS_PER_ORG):
            serial += 1
            machine = machines[min(int(rng.random() ** 1.5 * len(machines)), len(machines) - 1)]
            units[org.pk].append(
                unit_create(
                    actor=None,
                    serial_number=f"{machine.code.upper()}-2025-{serial:05d}",
                    machine_model=machine,
                    organisation=org,
                    installed_on=dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(600)),
                    contract_tier=Tier.PREMIUM if rng.random() < 0.15 else org.tier,
                )
            )
    # A few large customers and a long tail (Zipf-like), so some organisations have thousands.
    order = list(range(n_orgs))
    rng.shuffle(order)
    weights = [0.0] * n_orgs
    for rank, index in enumerate(order, start=1):
        weights[index] = 1 / rank**0.9
    policies = SLAPolicy.objects.select_related("calendar").prefetch_related("rules")
    plans = {(p.tier, p.priority): sla.Plan(policy=p, clock=sla.clock_for(p)) for p in policies}
    return World(
        now=now,
        orgs=orgs,
        org_weights=weights,
        units=units,
        customers=customers,
        plans=plans,
        queue_for={},
        agents={q.pk: a for q, a in queues},
        supervisor=supervisors[0],
        admin=admin,
    )


# ---------------------------------------------------------------------------------- tickets


@dataclass
class Draft:
    """One ticket before insertion, with its timers as (target, kind, percent, rule, fire_at)."""

    org: Organisation
    unit: Unit | None
    requester: User
    kind: str
    priority: int
    channel: str
    status: str
    created: dt.datetime
    plan: sla.Plan
    tier: str
    first_response_due: dt.datetime
    resolution_due: dt.datetime
    responded: dt.datetime | None = None
    timers: list[tuple] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    fired: int = 0  # timers fired before the scan instant (deleted, marked on the ticket)


def _timer_tuples(plan: sla.Plan, target: str, anchor: dt.datetime) -> list[tuple]:
    # The real arming code (sla._timers) computes the thresholds and fire times; the ticket it
    # is given only ends up on the SLATimer objects, which are rebuilt at insertion.
    timers = sla._timers(_NO_TICKET, plan, target, anchor=anchor, consumed=0)
    return [(t.target, t.kind, t.percent, t.rule, t.fire_at) for t in timers]


def _draft(world: World, rng: random.Random, *, status: str, age: float) -> Draft:
    org = rng.choices(world.orgs, weights=world.org_weights)[0]
    unit = rng.choice(world.units[org.pk]) if rng.random() < 0.9 else None
    kind = Kind.FAULT if unit is not None else rng.choice([Kind.QUESTION, Kind.SHIPPING])
    tier = unit.contract_tier if unit is not None else org.tier
    priority = _pick(rng, PRIORITY_WEIGHTS)
    plan = world.plans[(tier, priority)]
    created = world.now - dt.timedelta(seconds=age)
    clock, policy = plan.clock, plan.policy
    return Draft(
        org=org,
        unit=unit,
        requester=rng.choice(world.customers[org.pk]),
        kind=kind,
        priority=priority,
        channel=_pick(rng, CHANNELS),
        status=status,
        created=created,
        plan=plan,
        tier=tier,
        first_response_due=clock.add(created, sla.budget(policy, Target.FIRST_RESPONSE)),
        resolution_due=clock.add(created, sla.budget(policy, Target.RESOLUTION)),
    )


def _responded(d: Draft, rng: random.Random, limit: dt.datetime) -> dt.datetime:
    """An agent's first public reply, somewhere around the first-response target."""
    share = rng.uniform(0.1, 1.4)
    at = d.plan.clock.add(d.created, sla.budget(d.plan.policy, Target.FIRST_RESPONSE) * share)
    if at >= limit:
        at = d.created + (limit - d.created) * rng.uniform(0.05, 0.95)
    return at


def _open_drafts(world: World, rng: random.Random, n: int) -> list[Draft]:
    drafts = []
    for _ in range(n):
        # Mostly recent, with a tail of old open tickets (mean 5 days, at most 45).
        age = 60 + min(rng.expovariate(1 / (5 * 86400)), 45 * 86400)
        status = Status.NEW if rng.random() < 0.3 else Status.OPEN
        d = _draft(world, rng, status=status, age=age)
        d.timers = _timer_tuples(d.plan, Target.RESOLUTION, d.created)
        fr = _timer_tuples(d.plan, Target.FIRST_RESPONSE, d.created)
        if status == Status.OPEN:
            d.responded = _responded(d, rng, world.now)
        d.timers += fr
        drafts.append(d)
    return drafts


def _scan_horizon(world: World, drafts: list[Draft], due: int) -> dt.datetime | None:
    """Return the last scan instant T0 that leaves about `due` timers pending and due now.

    The state is a backlog: the scanner last ran at T0, so every timer that fell due by then
    has fired (and its effects are on the ticket); those due in (T0, now] wait for this scan.
    An open ticket's first-response timers still pending at its first reply were deleted by
    the reply, so they are never candidates.
    """
    candidates = []
    for d in drafts:
        for target, _kind, _percent, _rule, fire_at in d.timers:
            if fire_at > world.now:
                continue
            if target == Target.FIRST_RESPONSE and d.responded is not None:
                continue
            candidates.append(fire_at)
    if len(candidates) <= due:
        return None
    candidates.sort()
    return candidates[len(candidates) - due - 1]


def _settle(d: Draft, horizon: dt.datetime | None) -> list[tuple]:
    """Keep the timers that exist now and put the effects of the fired ones on the ticket."""
    f = d.fields
    f.update(sla_warning=False, sla_breached=False, escalation_level=0, version=1)
    priority = d.priority
    kept = []
    for target, kind, percent, rule, fire_at in sorted(d.timers, key=lambda t: t[4]):
        fired = horizon is not None and fire_at <= horizon
        answered = target == Target.FIRST_RESPONSE and d.responded is not None
        if answered and not (fired and fire_at <= d.responded):
            continue  # still pending at the first reply, which deleted it
        if not fired:
            kept.append((target, kind, percent, rule.pk if rule else None, fire_at))
            continue
        # What the scan did when this timer fired (tickets.services.escalation._scan_batch):
        # deleted it, raised the target's mark of the highest threshold fired, applied it.
        f[FIRED_FIELD[target]] = max(f.get(FIRED_FIELD[target], 0), percent)
        d.fired += 1
        if kind == TimerKind.WARNING:
            f["sla_warning"] = True
        elif kind == TimerKind.BREACH:
            f["sla_warning"] = f["sla_breached"] = True
            if target == Target.FIRST_RESPONSE:
                f["first_response_met"] = False
        elif rule is not None:
            f["escalation_level"] = max(f["escalation_level"], rule.level)
            f["version"] += 1
            if rule.raise_priority and priority > 1:
                priority -= 1
    f["priority"] = priority
    if d.responded is not None:
        f["first_responded_at"] = d.responded
        f["first_response_met"] = d.responded <= d.first_response_due
        f["version"] += 1
    return kept


def _history_drafts(world: World, rng: random.Random, n: int) -> list[Draft]:
    drafts = []
    for _ in range(n):
        status = _pick(rng, HISTORY_STATUSES)
        d = _draft(world, rng, status=status, age=rng.uniform(2, 120) * 86400)
        clock, policy, f = d.plan.clock, d.plan.policy, d.fields
        if status in (Status.RESOLVED, Status.CLOSED):
            d.responded = _responded(d, rng, world.now)
            share = rng.uniform(0.2, 1.3)
            resolved = clock.add(d.created, sla.budget(policy, Target.RESOLUTION) * share)
            resolved = max(d.responded, min(resolved, world.now - dt.timedelta(hours=1)))
            f.update(
                resolved_at=resolved,
                resolution_met=resolved <= d.resolution_due,
                sla_paused_at=resolved,
                sla_remaining={Target.RESOLUTION: clock.between(resolved, d.resolution_due)},
                version=4,
            )
            if status == Status.CLOSED:
                closed = resolved + dt.timedelta(days=rng.uniform(0.5, 7))
                f.update(closed_at=min(closed, world.now), sla_remaining={}, version=5)
        else:
            paused = d.created + (world.now - d.created) * rng.uniform(0.2, 0.9)
            d.responded = min(_responded(d, rng, world.now), paused)
            f.update(
                sla_paused_at=paused,
                sla_remaining={Target.RESOLUTION: clock.between(paused, d.resolution_due)},
                version=3,
            )
        f.update(
            first_responded_at=d.responded,
            first_response_met=d.responded <= d.first_response_due,
        )
        drafts.append(d)
    return drafts


TIMER_COLUMNS = ["ticket_id", "target", "kind", "percent", "rule_id", "fire_at"]
MESSAGE_COLUMNS = [
    "ticket_id",
    "author_id",
    "from_customer",
    "internal",
    "body",
    "channel",
    "created_at",
]


def _write(model: type[Model], columns: list[str], rows: list[tuple]) -> None:
    """Insert rows of field values: COPY on PostgreSQL, bulk_create elsewhere.

    COPY skips the ORM's per-value work, which dominates at hundreds of thousands of rows;
    encrypted columns are still encrypted by their field (once per distinct value).
    """
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            (model(**dict(zip(columns, row, strict=True))) for row in rows), batch_size=2000
        )
        return
    fields = [model._meta.get_field(name) for name in columns]
    encrypted = {i: {} for i, f in enumerate(fields) if isinstance(f, StrictEncryptedMixin)}
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            if encrypted:
                row = list(row)
                for i, memo in encrypted.items():
                    if row[i] not in memo:
                        memo[row[i]] = fields[i].get_db_prep_save(row[i], connection)
                    row[i] = memo[row[i]]
            copy.write_row(row)


def _insert(world: World, drafts: list[Draft], horizon: dt.datetime | None) -> dict[str, int]:
    """Insert tickets, timers, messages and 'ticket.opened' audit events, in batches."""
    drafts.sort(key=lambda d: d.created)
    numbers: dict[int, int] = defaultdict(int)
    turn: dict[int, int] = defaultdict(int)
    written = Counter()
    started = time.perf_counter()
    for start in range(0, len(drafts), BATCH):
        chunk = drafts[start : start + BATCH]
        tickets, timers = [], []
        for d in chunk:
            year = timezone.localtime(d.created).year
            numbers[year] += 1
            queue = world.queue(d.org, d.unit)
            assignee = None
            if queue is not None and world.agents.get(queue.pk):
                members = world.agents[queue.pk]
                assignee = members[turn[queue.pk] % len(members)]
                turn[queue.pk] += 1
            kept = _settle(d, horizon) if d.timers else []
            fields = {"priority": d.priority, **d.fields}
            tickets.append(
                Ticket(
                    reference=f"WD-{year}-{numbers[year]:06d}",
                    created_at=d.created,
                    organisation=d.org,
                    requester=d.requester,
                    unit=d.unit,
                    kind=d.kind,
                    channel=d.channel,
                    queue=queue,
                    assignee_id=assignee,
                    subject=SUBJECTS[(start + len(tickets)) % len(SUBJECTS)],
                    status=d.status,
                    sla_policy=d.plan.policy,
                    contract_tier=d.tier,
                    first_response_due=d.first_response_due,
                    resolution_due=d.resolution_due,
                    last_customer_message_at=d.created,
                    **fields,
                )
            )
            # The list's urgency key, as the ticket services keep it.
            tickets[-1].sla_next_due = sla.next_due(tickets[-1])
            timers.append(kept)
        with transaction.atomic():
            Ticket.objects.bulk_create(tickets)
            rows, messages = [], []
            for ticket, kept in zip(tickets, timers, strict=True):
                rows += [(ticket.pk, *timer) for timer in kept]
                messages.append(
                    (
                        ticket.pk,
                        ticket.requester_id,
                        True,
                        False,
                        CUSTOMER_TEXT,
                        ticket.channel,
                        ticket.created_at,
                    )
                )
                if ticket.first_responded_at is not None and ticket.assignee_id:
                    messages.append(
                        (
                            ticket.pk,
                            ticket.assignee_id,
                            False,
                            False,
                            AGENT_TEXT,
                            ticket.channel,
                            ticket.first_responded_at,
                        )
                    )
            _write(SLATimer, TIMER_COLUMNS, rows)
            _write(Message, MESSAGE_COLUMNS, messages)
            audit_record_many(
                action="ticket.opened",
                targets=tickets,
                per_target={
                    t.pk: {
                        "reference": t.reference,
                        "organisation": t.organisation_id,
                        "priority": t.priority,
                        "queue": t.queue_id,
                        "policy": t.sla_policy_id,
                    }
                    for t in tickets
                },
            )
        written["tickets"] += len(tickets)
        written["timers"] += len(rows)
        written["messages"] += len(messages)
        rate = written["tickets"] / (time.perf_counter() - started)
        print(
            f"    {written['tickets']:>7,} / {len(drafts):,} tickets inserted ({rate:,.0f}/s)",
            flush=True,
        )
    for year, last in numbers.items():
        references.counter_set(year, last)
    return dict(written)


def seed(*, scale: float) -> World:
    """Build the world and insert the tickets; return the world with its counts."""
    rng = random.Random(20261125)  # reproducible data
    now = timezone.now().replace(microsecond=0)
    started = time.perf_counter()
    print("  seeding: calendar, policies, staff, queues, organisations, units ...", flush=True)
    world = _build_world(scale=scale, rng=rng, now=now)
    n_open = max(100, round(OPEN_TICKETS * scale))
    n_history = round(HISTORY_TICKETS * scale)
    due = max(10, round(DUE_TIMERS * scale))
    print(f"  seeding: planning {n_open:,} open and {n_history:,} other tickets ...", flush=True)
    drafts = _open_drafts(world, rng, n_open)
    horizon = _scan_horizon(world, drafts, due)
    drafts += _history_drafts(world, rng, n_history)
    written = _insert(world, drafts, horizon)
    # The tickets were bulk-loaded past the services: count each agent's load once, as the
    # hourly recount would.
    from tickets.services.assignment import agent_loads_rebuild

    agent_loads_rebuild()
    # Seal the seed's own audit events now, so no measured part pays for them.
    from audit.services import audit_seal

    audit_seal()
    if connection.vendor == "postgresql":
        # A live database has statistics (autovacuum); right after a bulk load it has none, and
        # the planner would guess a few hundred rows where there are 100,000.
        print("  seeding: VACUUM ANALYZE ...", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    elapsed = time.perf_counter() - started
    pending = SLATimer.objects.all()
    world.counts = {
        "organisations": len(world.orgs),
        "units": Unit.objects.count(),
        "customers": User.objects.filter(is_staff=False).count(),
        "staff": User.objects.filter(is_staff=True).count(),
        "queues": Queue.objects.count(),
        "tickets": Ticket.objects.count(),
        "open_tickets": Ticket.objects.filter(status__in=[Status.NEW, Status.OPEN]).count(),
        "by_status": dict(Counter(Ticket.objects.values_list("status", flat=True))),
        "timers_pending": pending.count(),
        "timers_due_at_scan": pending.filter(fire_at__lte=now).count(),
        "timers_fired_before": sum(d.fired for d in drafts),
        "messages": written["messages"],
        "backlog_hours": round((now - horizon).total_seconds() / 3600, 1) if horizon else None,
        "largest_org_tickets": max(
            Counter(Ticket.objects.values_list("organisation_id", flat=True)).values()
        ),
        "seconds": round(elapsed, 1),
    }
    c = world.counts
    print(
        f"  seeded {c['tickets']:,} tickets ({c['open_tickets']:,} open), "
        f"{c['timers_pending']:,} pending timers ({c['timers_due_at_scan']:,} due now, backlog "
        f"{c['backlog_hours']} h), {c['organisations']} organisations in {elapsed:.0f} s"
    )
    return world
