"""Seed data for the tickets benchmark: 100,000 open tickets with the SLA state they would have.

Organisations, people, units and queues are made through the services (so they are audited like
real ones); tickets, their timers, messages and 'ticket.opened' audit events are inserted in
batches. Each ticket's due times and timers come from the real SLA code (`sla.clock_for`,
`sla.budget`, `sla._timers`) for its policy and opening instant, and the effects of timers that
fired before the scan instant (warning, breach, escalation level, raised priority) are applied
as `tickets.services.escalation` would have applied them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace
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
from tickets.businesstime import BusinessClock
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
BATCH = 10_000

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


# ---------------------------------------------------------------------------------- the clock

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def _us(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _US


class Timeline:
    """A business clock's working intervals over a window, with the working time before each.

    `add` and `between` find an instant's place by bisection instead of walking the calendar
    day by day (about 80 microseconds a call, five or six calls a ticket: over an hour for a
    million tickets). In whole microseconds, as the calendar's timedelta arithmetic, so the
    results are the same instants; `_check_timelines` compares them with the real clock on a
    sample of every seed, and an instant outside the window falls back to the real clock.
    """

    def __init__(self, clock: BusinessClock, first: dt.datetime, last: dt.datetime) -> None:
        self.clock = self.real = clock
        self.spec = clock.spec
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.before: list[int] = []  # working microseconds before each interval's start
        total = 0
        day, stop = first.date() - dt.timedelta(days=2), last.date() + dt.timedelta(days=2)
        while day <= stop:
            for start, end in self.spec.intervals(day):
                a, b = _us(start), _us(end)
                if self.ends and a < self.ends[-1]:
                    raise ValueError("overlapping working intervals")
                self.starts.append(a)
                self.ends.append(b)
                self.before.append(total)
                total += b - a
            day += dt.timedelta(days=1)
        self.after = [
            b + e - s for b, s, e in zip(self.before, self.starts, self.ends, strict=True)
        ]
        # Only instants strictly inside the window: the walk starts a day before an instant.
        self.lo, self.hi = _us(first), _us(last)

    def _position(self, at: int) -> int:
        i = bisect.bisect_right(self.ends, at)  # the first interval ending after the instant
        return self.before[i] + max(0, at - self.starts[i])

    def add(self, start: dt.datetime, seconds: float) -> dt.datetime:
        at = _us(start)
        if seconds <= 0 or not self.lo <= at <= self.hi:
            return self.real.add(start, seconds)
        target = self._position(at) + dt.timedelta(seconds=seconds) // _US
        j = bisect.bisect_left(self.after, target)  # ends exactly at a close: that close
        if j == len(self.after) or self.starts[j] > self.hi:
            return self.real.add(start, seconds)
        return _EPOCH + dt.timedelta(microseconds=self.starts[j] + target - self.before[j])

    def between(self, a: dt.datetime, b: dt.datetime) -> float:
        x, y = _us(a), _us(b)
        if not (self.lo <= x <= self.hi and self.lo <= y <= self.hi):
            return self.real.between(a, b)
        return (self._position(y) - self._position(x)) / 10**6

    def runs_for(self, instant: dt.datetime) -> float | None:
        return self.real.runs_for(instant)


_THRESHOLDS: dict[tuple[int, str], list[tuple]] = {}


def _thresholds(policy: SLAPolicy, target: str) -> list[tuple]:
    """(kind, percent, rule, offset) of a target's thresholds: sla._timers' arithmetic for a
    clock armed at opening (nothing consumed, nothing fired), once per policy."""
    key = (policy.pk, target)
    if key not in _THRESHOLDS:
        total = sla.budget(policy, target)
        _THRESHOLDS[key] = [
            (kind, percent, rule, total * percent / 100)
            for kind, percent, rule in sla.thresholds(policy, target)
        ]
    return _THRESHOLDS[key]


# ---------------------------------------------------------------------------------- the world


@dataclass
class World:
    now: dt.datetime
    orgs: list[Organisation]
    org_weights: list[float]
    units: dict[int, list[Unit]]
    customers: dict[int, list[User]]
    plans: dict[tuple[str, int], sla.Plan]  # their clocks are Timelines where calendars
    queue_for: dict[tuple[int, str], Queue | None]
    agents: dict[int, list[int]]
    supervisor: User
    admin: User
    counts: dict[str, Any] = field(default_factory=dict)
    real_plans: dict[tuple[str, int], sla.Plan] = field(default_factory=dict)
    cum_weights: list[float] = field(default_factory=list)

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
def _build_world(
    *,
    scale: float,
    rng: random.Random,
    now: dt.datetime,
    organisations: int | None = None,
    units_per_org: int = UNITS_PER_ORG,
) -> World:
    """Calendar, policies, staff, queues, organisations, customers and units (via services).

    `organisations` (default: 240 times the scale) and `units_per_org` shape the installed
    base; the alarms benchmark asks for a few organisations with many machines each."""
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

    # Above 100,000 open tickets the customers grow with the square root of the tickets (each
    # is made through the services, about a tenth of a second with its people and units; at
    # a million tickets 760 organisations, the largest with about 100,000 tickets).
    n_orgs = organisations or max(12, round(ORGANISATIONS * (scale if scale <= 1 else scale**0.5)))
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
        for _ in range(units_per_org):
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
    real = {(p.tier, p.priority): sla.Plan(policy=p, clock=sla.clock_for(p)) for p in policies}
    first, last = now - dt.timedelta(days=130), now + dt.timedelta(days=400)
    timelines: dict[int, Timeline] = {}
    plans = {}
    for key, plan in real.items():
        clock = plan.clock
        if isinstance(clock, BusinessClock):
            if id(clock.spec) not in timelines:
                timelines[id(clock.spec)] = Timeline(clock, first, last)
            clock = timelines[id(clock.spec)]
        plans[key] = sla.Plan(policy=plan.policy, clock=clock)
    return World(
        now=now,
        orgs=orgs,
        org_weights=weights,
        units=units,
        customers=customers,
        plans=plans,
        real_plans=real,
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
    """The timers sla._timers arms at opening, as tuples (no SLATimer objects: a million
    tickets' five million model instances cost minutes); `_check_timelines` compares them."""
    add = plan.clock.add
    return [
        (target, kind, percent, rule, add(anchor, offset) if offset > 0 else anchor)
        for kind, percent, rule, offset in _thresholds(plan.policy, target)
    ]


def _real_timer_tuples(plan: sla.Plan, target: str, anchor: dt.datetime) -> list[tuple]:
    timers = sla._timers(_NO_TICKET, plan, target, anchor=anchor, consumed=0)
    return [(t.target, t.kind, t.percent, t.rule, t.fire_at) for t in timers]


def _check_timelines(world: World, drafts: list[Draft], n: int = 1000) -> None:
    """The seed's timers, due times and working-time spans equal the real SLA code's on a
    sample of tickets (sla._timers and the calendar's own add and between)."""
    rng = random.Random(7)
    for d in rng.sample(drafts, min(n, len(drafts))):
        real = world.real_plans[(d.plan.policy.tier, d.plan.policy.priority)]
        for target in (Target.RESOLUTION, Target.FIRST_RESPONSE):
            fast = _timer_tuples(d.plan, target, d.created)
            if fast != _real_timer_tuples(real, target, d.created):
                raise AssertionError(f"timers differ from sla._timers for {d.created}")
        for seconds in (1, 3600.5, 86400 * 3, 7 * 86400 + 0.25):
            if d.plan.clock.add(d.created, seconds) != real.clock.add(d.created, seconds):
                raise AssertionError(f"add({d.created}, {seconds}) differs from the calendar's")
        later = d.created + dt.timedelta(hours=rng.uniform(0, 400))
        if d.plan.clock.between(d.created, later) != real.clock.between(d.created, later):
            raise AssertionError(f"between({d.created}, {later}) differs from the calendar's")


def _draft(world: World, rng: random.Random, *, status: str, age: float) -> Draft:
    if len(world.cum_weights) != len(world.orgs):  # summed once, not once per ticket
        world.cum_weights = list(itertools.accumulate(world.org_weights))
    org = rng.choices(world.orgs, cum_weights=world.cum_weights)[0]
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
    # Business-clock tickets opened out of hours share their fire times (the next opening
    # plus the offset): thousands can fall on one instant. The horizon goes below such a
    # tie, so at least `due` timers are left due (not fewer by the size of the tie).
    first_due = bisect.bisect_left(candidates, candidates[len(candidates) - due])
    return candidates[first_due - 1] if first_due > 0 else None


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


_NULLS = dict.fromkeys(
    ("next_reply_due", "sla_paused_at", "resolved_at", "first_responded_at", "assignee_id")
)


class _TicketRows:
    """Tickets as COPY rows in the table's column order, without model instances.

    A million `Ticket(...)` objects and their per-field conversion cost minutes of the seed;
    here each row starts from the columns' defaults (converted once, from an unsaved Ticket)
    and takes the ticket's values by attribute name. Dates and plain values go to COPY as
    they are; JSON goes through its field. Elsewhere than PostgreSQL: bulk_create.
    """

    def __init__(self) -> None:
        self.fields = list(Ticket._meta.concrete_fields)
        template = Ticket()
        self.index = {f.attname: i for i, f in enumerate(self.fields)}
        self.defaults = [
            None if f.primary_key else f.get_db_prep_save(f.pre_save(template, True), connection)
            for f in self.fields
        ]
        self.json = {f.attname: f for f in self.fields if f.get_internal_type() == "JSONField"}

    def insert(self, rows: list[dict[str, Any]]) -> None:
        """Insert the tickets (attribute name -> value) and set each one's "id"."""
        if connection.vendor != "postgresql":
            tickets = [Ticket(**row) for row in rows]
            Ticket.objects.bulk_create(tickets)
            for row, ticket in zip(rows, tickets, strict=True):
                row["id"] = ticket.pk
            return
        table = connection.ops.quote_name(Ticket._meta.db_table)
        names = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Ticket._meta.db_table, len(rows)],
            )
            for row, (key,) in zip(rows, cursor.fetchall(), strict=True):
                row["id"] = key
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    values = list(self.defaults)
                    for name, value in row.items():
                        if name in self.json:
                            value = self.json[name].get_db_prep_save(value, connection)
                        values[self.index[name]] = value
                    copy.write_row(values)


def _insert(world: World, drafts: list[Draft], horizon: dt.datetime | None) -> dict[str, int]:
    """Insert tickets, timers, messages and 'ticket.opened' audit events, in batches."""
    drafts.sort(key=lambda d: d.created)
    numbers: dict[int, int] = defaultdict(int)
    turn: dict[int, int] = defaultdict(int)
    written = Counter()
    layout = _TicketRows()
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
            row = {
                "reference": f"WD-{year}-{numbers[year]:06d}",
                "created_at": d.created,
                "organisation_id": d.org.pk,
                "requester_id": d.requester.pk,
                "unit_id": d.unit.pk if d.unit is not None else None,
                "kind": d.kind,
                "channel": d.channel,
                "queue_id": queue.pk if queue is not None else None,
                "assignee_id": assignee,
                "subject": SUBJECTS[(start + len(tickets)) % len(SUBJECTS)],
                "status": d.status,
                "sla_policy_id": d.plan.policy.pk,
                "contract_tier": d.tier,
                "first_response_due": d.first_response_due,
                "resolution_due": d.resolution_due,
                "last_customer_message_at": d.created,
                "priority": d.priority,
                **d.fields,
            }
            # The list's urgency key, as the ticket services keep it (sla.next_due reads
            # only attributes).
            row["sla_next_due"] = sla.next_due(SimpleNamespace(**{**_NULLS, **row}))
            tickets.append(row)
            timers.append(kept)
        with transaction.atomic():
            layout.insert(tickets)
            rows, messages = [], []
            for t, kept in zip(tickets, timers, strict=True):
                rows += [(t["id"], *timer) for timer in kept]
                messages.append(
                    (
                        t["id"],
                        t["requester_id"],
                        True,
                        False,
                        CUSTOMER_TEXT,
                        t["channel"],
                        t["created_at"],
                    )
                )
                if t.get("first_responded_at") is not None and t["assignee_id"]:
                    messages.append(
                        (
                            t["id"],
                            t["assignee_id"],
                            False,
                            False,
                            AGENT_TEXT,
                            t["channel"],
                            t["first_responded_at"],
                        )
                    )
            _write(SLATimer, TIMER_COLUMNS, rows)
            _write(Message, MESSAGE_COLUMNS, messages)
            audit_record_many(
                action="ticket.opened",
                model=Ticket,
                target_ids=[t["id"] for t in tickets],
                per_target={
                    t["id"]: {
                        "reference": t["reference"],
                        "organisation": t["organisation_id"],
                        "priority": t["priority"],
                        "queue": t["queue_id"],
                        "policy": t["sla_policy_id"],
                    }
                    for t in tickets
                },
            )
        written["tickets"] += len(tickets)
        written["timers"] += len(rows)
        written["messages"] += len(messages)
        rate = written["tickets"] / (time.perf_counter() - started)
        if start // BATCH % 10 == 0 or start + BATCH >= len(drafts):
            print(
                f"    {written['tickets']:>9,} / {len(drafts):,} tickets inserted ({rate:,.0f}/s)",
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
    _check_timelines(world, drafts)
    print(f"  seeding: planned ({time.perf_counter() - started:.0f} s), inserting ...", flush=True)
    foreign_keys = []
    if connection.vendor == "postgresql":
        # Django's foreign keys are deferred: each inserted row would queue a check for the
        # commit. Dropped for the load and added back after it (one join per key checks all).
        from bench.search import _drop_foreign_keys

        foreign_keys = _drop_foreign_keys(["tickets_ticket", "tickets_slatimer", "tickets_message"])
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
    written = _insert(world, drafts, horizon)
    if foreign_keys:
        print(f"  seeding: foreign keys ({time.perf_counter() - started:.0f} s) ...", flush=True)
        with connection.cursor() as cursor:
            for statement in foreign_keys:
                cursor.execute(statement)
    # The tickets were bulk-loaded past the services: count each agent's load once, as the
    # hourly recount would.
    from tickets.services.assignment import agent_loads_rebuild

    agent_loads_rebuild()
    # Seal the seed's own audit events now, so no measured part pays for them.
    from audit.services import audit_seal

    print(f"  seeding: sealing ({time.perf_counter() - started:.0f} s) ...", flush=True)
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
