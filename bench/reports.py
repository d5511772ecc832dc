"""The supervisors' reports at scale: a year of 100,000 tickets (times --scale), every report.

A report costs a fixed number of queries whatever the period (core/reports.py), and the issue
asks each page to answer in under 300 ms over a year of a busy desk. This seeds that year and
times every report the apps registered, with each of its dimensions, over the last 365 days and
the last 30, as a supervisor (every region) through the real admin view.

The data, spread over the 365 days before now:

- the world of the tickets benchmark (bench/ticket_data.py, through the services): calendar,
  SLA policies, 4 supervisors and 48 agents, 16 queues, 240 organisations in the 7 regions
  (Zipf-sized), their customers and units; 40 fault codes;
- 100,000 tickets (channels, priorities, queues and agents as the desk's mix; those older
  than a few days resolved or closed, with first-response and resolution times and whether
  they met their targets), a fault report with a fault code for each fault ticket, a customer
  message and the agent's first reply; a survey for 30 % of the closed ones, 60 % answered;
- 20,000 chat conversations (one per five tickets) with 4 messages each (the wait before the
  agent's first answer is exponential, mean 45 s), 40 % rated;
- 30,000 calls over the 7 regional hotlines, 85 % answered after an exponential wait, the
  rest abandoned or missed;
- 6 incidents on the hotlines, resolved after 1 to 4 hours, each assessed for compensation
  (services.assess_incident under an outage policy) with half of its grants approved.

Rows are bulk-inserted (COPY on PostgreSQL, through bench.ticket_data._write); the incidents
and their assessments go through the services. Then, for each page: 2 warm-up requests, the
queries counted on one, and BENCH_REPORTS_REQUESTS (10) timed: median and 95th percentile.

`make bench BENCH_ARGS=reports` (add `--scale 0.02` for a quick run).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
import uuid
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Region
from bench import ticket_data
from bench.loadgen import as_in_production, load_average, summary
from chat.models import ChatMessage, Conversation, ConversationStatus
from core import reports
from equipment.models import FaultCode
from intake.models import Call
from testsupport import sign_in
from tickets.models import Channel, FaultReport, Kind, Status, Survey, Ticket
from tickets.models.impact import Production
from tickets.services import references

TICKETS = 100_000
CHATS_PER_TICKET = 0.2
CALLS_PER_TICKET = 0.3
INCIDENTS = 6
DAYS = 365
BATCH = 5_000
TARGET_MS = 300
# Minutes to the first answer and hours to the resolution, by priority (the desk's targets).
FIRST_RESPONSE_DUE = {1: 30, 2: 120, 3: 480, 4: 1440}
RESOLUTION_DUE = {1: 8, 2: 24, 3: 72, 4: 168}
CHANNELS = {**ticket_data.CHANNELS, Channel.CHAT: 8, Channel.CALLBACK: 2}
PRIORITIES = ticket_data.PRIORITY_WEIGHTS
PRODUCTION = {Production.STOPPED: 15, Production.DEGRADED: 45, Production.UNAFFECTED: 40}


@contextmanager
def _stamps_as_given(model, *names: str):
    """Let bulk inserts keep the seeded instants of fields that would stamp now."""
    fields = [model._meta.get_field(name) for name in names]
    saved = [(f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, (now, add) in zip(fields, saved, strict=True):
            f.auto_now, f.auto_now_add = now, add


def _pick(rng: random.Random, weights: dict) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _fault_codes() -> list[FaultCode]:
    return FaultCode.objects.bulk_create(
        FaultCode(
            code=f"E{n}",
            title_en=f"Fault {n}",
            title_zh=f"故障 {n}",
            severity="major" if n % 3 else "minor",
        )
        for n in range(101, 141)
    )


def _ticket(world, rng, codes, created: dt.datetime) -> tuple[Ticket, FaultCode | None]:
    org = rng.choices(world.orgs, weights=world.org_weights)[0]
    unit = rng.choice(world.units[org.pk]) if rng.random() < 0.85 else None
    kind = Kind.FAULT if unit is not None else rng.choice([Kind.QUESTION, Kind.SHIPPING])
    tier = unit.contract_tier if unit is not None else org.tier
    priority = _pick(rng, PRIORITIES)
    queue = world.queue(org, unit)
    members = world.agents.get(queue.pk) if queue is not None else None
    assignee = rng.choice(members) if members else None
    age = world.now - created
    fr_due = created + dt.timedelta(minutes=FIRST_RESPONSE_DUE[priority])
    res_due = created + dt.timedelta(hours=RESOLUTION_DUE[priority])
    fields: dict[str, Any] = {}
    if age < dt.timedelta(days=3) and rng.random() < 0.5:
        status = Status.NEW if rng.random() < 0.4 else Status.OPEN
    else:
        status = Status.CLOSED if age > dt.timedelta(days=7) else Status.RESOLVED
    if status != Status.NEW:
        responded = created + dt.timedelta(
            minutes=rng.expovariate(1 / (FIRST_RESPONSE_DUE[priority] * 0.6))
        )
        responded = min(responded, world.now)
        fields.update(first_responded_at=responded, first_response_met=responded <= fr_due)
    if status in (Status.RESOLVED, Status.CLOSED):
        resolved = created + dt.timedelta(
            hours=rng.expovariate(1 / (RESOLUTION_DUE[priority] * 0.55))
        )
        resolved = max(fields["first_responded_at"], min(resolved, world.now))
        fields.update(resolved_at=resolved, resolution_met=resolved <= res_due)
        if status == Status.CLOSED:
            fields["closed_at"] = min(resolved + dt.timedelta(days=3), world.now)
    ticket = Ticket(
        created_at=created,
        organisation=org,
        requester=rng.choice(world.customers[org.pk]),
        unit=unit,
        kind=kind,
        channel=_pick(rng, CHANNELS),
        priority=priority,
        queue=queue,
        assignee_id=assignee,
        subject=rng.choice(ticket_data.SUBJECTS),
        status=status,
        sla_policy=world.plans[(tier, priority)].policy,
        contract_tier=tier,
        first_response_due=fr_due,
        resolution_due=res_due,
        last_customer_message_at=created,
        **fields,
    )
    return ticket, (rng.choice(codes[: rng.randint(5, len(codes))]) if unit else None)


def _seed_tickets(world, rng, codes, n: int) -> dict[str, int]:
    started = time.perf_counter()
    instants = sorted(
        world.now - dt.timedelta(seconds=rng.uniform(0, DAYS * 86400)) for _ in range(n)
    )
    counters: dict[int, int] = {}
    written = {"tickets": 0, "fault_reports": 0, "messages": 0, "surveys": 0}
    for start in range(0, n, BATCH):
        drafts = [_ticket(world, rng, codes, at) for at in instants[start : start + BATCH]]
        tickets = [t for t, _code in drafts]
        for ticket in tickets:
            year = timezone.localtime(ticket.created_at).year
            counters[year] = counters.get(year, 0) + 1
            ticket.reference = f"WD-{year}-{counters[year]:06d}"
        with transaction.atomic():
            Ticket.objects.bulk_create(tickets)
            reports_rows = [
                FaultReport(
                    ticket=t,
                    fault_code=code,
                    production=_pick(rng, PRODUCTION),
                    machines_affected=rng.randint(1, 3),
                    safety_risk=rng.random() < 0.02,
                )
                for t, code in drafts
                if code is not None
            ]
            FaultReport.objects.bulk_create(reports_rows)
            messages, surveys = [], []
            for t in tickets:
                messages.append(
                    (t.pk, t.requester_id, True, False, ticket_data.CUSTOMER_TEXT, t.channel,
                     t.created_at)
                )  # fmt: skip
                if t.first_responded_at is not None and t.assignee_id:
                    messages.append(
                        (t.pk, t.assignee_id, False, False, ticket_data.AGENT_TEXT, t.channel,
                         t.first_responded_at)
                    )  # fmt: skip
                if t.status == Status.CLOSED and rng.random() < 0.3:
                    answered = rng.random() < 0.6
                    surveys.append(
                        Survey(
                            ticket=t,
                            agent_id=t.assignee_id,
                            queue=t.queue,
                            nonce=uuid.UUID(int=rng.getrandbits(128)),
                            rating=_pick(rng, {5: 50, 4: 28, 3: 12, 2: 6, 1: 4})
                            if answered
                            else None,
                            sent_at=t.resolved_at,
                            answered_at=t.resolved_at + dt.timedelta(hours=rng.uniform(1, 72))
                            if answered
                            else None,
                        )
                    )
            ticket_data._write(ticket_data.Message, ticket_data.MESSAGE_COLUMNS, messages)
            with _stamps_as_given(Survey, "sent_at"):
                Survey.objects.bulk_create(surveys)
        written["tickets"] += len(tickets)
        written["fault_reports"] += len(reports_rows)
        written["messages"] += len(messages)
        written["surveys"] += len(surveys)
        rate = written["tickets"] / (time.perf_counter() - started)
        print(f"    {written['tickets']:>7,} / {n:,} tickets ({rate:,.0f}/s)", flush=True)
    for year, last in counters.items():
        references.counter_set(year, last)
    return written


CHAT_COLUMNS = ["conversation_id", "seq", "client_id", "sender_id", "from_customer", "body",
                "created_at"]  # fmt: skip


def _seed_chats(world, rng, n: int) -> dict[str, int]:
    instants = sorted(
        world.now - dt.timedelta(seconds=rng.uniform(0, DAYS * 86400)) for _ in range(n)
    )
    written = {"conversations": 0, "chat_messages": 0}
    for start in range(0, n, BATCH):
        conversations = []
        for created in instants[start : start + BATCH]:
            org = rng.choices(world.orgs, weights=world.org_weights)[0]
            queue = world.queue(org, None)
            members = world.agents.get(queue.pk) if queue is not None else None
            agent = rng.choice(members) if members and rng.random() < 0.93 else None
            closed = created + dt.timedelta(minutes=rng.uniform(3, 40))
            rated = agent is not None and rng.random() < 0.4
            conversations.append(
                Conversation(
                    organisation=org,
                    customer=rng.choice(world.customers[org.pk]),
                    queue=queue,
                    status=ConversationStatus.CLOSED,
                    agent_id=agent,
                    created_at=created,
                    closed_at=min(closed, world.now),
                    last_seq=4 if agent else 1,
                    rating=_pick(rng, {5: 55, 4: 25, 3: 10, 2: 6, 1: 4}) if rated else None,
                    rated_at=closed if rated else None,
                )
            )
        with transaction.atomic():
            Conversation.objects.bulk_create(conversations)
            rows = []
            for c in conversations:
                at = c.created_at
                rows.append((c.pk, 1, "c1", c.customer_id, True, "你好，焊缝有气孔。", at))
                if c.agent_id is None:
                    continue
                at += dt.timedelta(seconds=rng.expovariate(1 / 45))
                rows.append((c.pk, 2, "a1", c.agent_id, False, "您好，请问型号？", at))
                at += dt.timedelta(seconds=rng.uniform(10, 120))
                rows.append((c.pk, 3, "c2", c.customer_id, True, "HW-2000", at))
                at += dt.timedelta(seconds=rng.uniform(10, 120))
                rows.append((c.pk, 4, "a2", c.agent_id, False, "请检查保护镜片。", at))
            # bulk_create, not COPY: the JSON payload and the database defaults need the ORM.
            ChatMessage.objects.bulk_create(
                (ChatMessage(**dict(zip(CHAT_COLUMNS, row, strict=True))) for row in rows),
                batch_size=2000,
            )
        written["conversations"] += len(conversations)
        written["chat_messages"] += len(rows)
    print(f"    {written['conversations']:,} conversations, {written['chat_messages']:,} messages")
    return written


def _seed_calls(world, rng, n: int) -> dict[str, int]:
    lines = list(Region.objects.order_by("code").values_list("code", flat=True))
    written = 0
    for start in range(0, n, BATCH):
        calls = []
        for i in range(start, min(n, start + BATCH)):
            started = world.now - dt.timedelta(seconds=rng.uniform(0, DAYS * 86400))
            outcome = rng.random()
            answered = started + dt.timedelta(seconds=rng.expovariate(1 / 30))
            calls.append(
                Call(
                    call_id=f"bench-{i:07d}",
                    line=rng.choice(lines),
                    caller=f"+86 139 {rng.randrange(10**8):08d}",
                    started_at=started,
                    answered_at=answered if outcome < 0.85 else None,
                    ended_at=(answered if outcome < 0.85 else started)
                    + dt.timedelta(seconds=rng.uniform(20, 600)),
                    abandoned=0.85 <= outcome < 0.95,
                )
            )
        Call.objects.bulk_create(calls)
        written += len(calls)
    print(f"    {written:,} calls", flush=True)
    return {"calls": written}


def _seed_incidents(world, rng) -> dict[str, int]:
    """Outages on the hotlines, resolved, assessed for compensation, half of it approved."""
    from compensation import services as compensation
    from compensation.models import Assessment, EventKind, Grant, GrantStatus, Policy, PolicyTier
    from status import services as status_services
    from status.models import Component, ComponentGroup, ComponentKind, Severity
    from status.reference import ensure_severities

    ensure_severities()
    # Customers with units in the region are compensated too, so every outage has grants.
    policy = Policy.objects.create(
        name="Bench outage", event=EventKind.INCIDENT, max_severity_rank=2, affects_units=True
    )
    for tier, priority in (("standard", 0), ("plus", 7), ("premium", 14)):
        PolicyTier.objects.create(
            policy=policy,
            tier=tier,
            warranty_days_per_hour=Decimal("1.00"),
            warranty_days_max=30,
            voucher_value=Decimal("500"),
            priority_days=priority,
        )
    group, _ = ComponentGroup.objects.get_or_create(
        key="bench-hotlines", defaults={"name_en": "Hotlines", "name_zh": "热线"}
    )
    regions = list(Region.objects.order_by("code"))
    severities = list(Severity.objects.order_by("rank")[:2])
    for n in range(INCIDENTS):
        region = regions[n % len(regions)]
        component, _ = Component.objects.get_or_create(
            key=f"bench-hotline-{region.code}",
            defaults={
                "group": group,
                "name_en": f"Hotline {region.name_en}",
                "name_zh": f"{region.name_zh}热线",
                "kind": ComponentKind.HOTLINE,
                "region": region,
            },
        )
        start = world.now - dt.timedelta(days=rng.uniform(5, DAYS - 5))
        end = start + dt.timedelta(hours=rng.uniform(1, 4))
        incident = status_services.incident_open(
            actor="system",
            severity=severities[n % len(severities)],
            title_en=f"Hotline {region.name_en} down",
            title_zh=f"{region.name_zh}热线中断",
            components={component: "major_outage"},
            body_en="Calls fail.",
            body_zh="电话无法接通。",
            started_at=start,
            started_reason="Benchmark history.",
        )
        status_services.incident_update(
            incident=incident,
            actor="system",
            state="resolved",
            body_en="Back.",
            body_zh="已恢复。",
            at=end,
            reason="Benchmark history.",
        )
        compensation.assess_incident(incident=incident, actor=None)
    proposed = list(
        Grant.objects.filter(status=GrantStatus.PROPOSED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    compensation.grants_approve(grant_ids=proposed[::2], actor=None)
    counts = {"incidents": INCIDENTS, "assessments": Assessment.objects.count()}
    counts["grants"] = Grant.objects.count()
    print(f"    {counts}", flush=True)
    return counts


def _seed(*, scale: float) -> tuple[Any, dict[str, Any]]:
    rng = random.Random(20261207)
    now = timezone.now().replace(microsecond=0)
    started = time.perf_counter()
    print("  seeding: calendar, policies, staff, queues, organisations, units ...", flush=True)
    world = ticket_data._build_world(scale=scale, rng=rng, now=now)
    codes = _fault_codes()
    n = max(500, round(TICKETS * scale))
    counts: dict[str, Any] = {}
    counts |= _seed_tickets(world, rng, codes, n)
    counts |= _seed_chats(world, rng, max(50, round(n * CHATS_PER_TICKET)))
    counts |= _seed_calls(world, rng, max(50, round(n * CALLS_PER_TICKET)))
    counts |= _seed_incidents(world, rng)
    if connection.vendor == "postgresql":
        print("  seeding: VACUUM ANALYZE ...", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    counts["seconds"] = round(time.perf_counter() - started, 1)
    print(f"  seeded {counts}", flush=True)
    return world, counts


def _pages() -> list[tuple[str, str, dict[str, str]]]:
    """(label, url, query) of every report page: each dimension, a year and a month."""
    pages = [("index", "/admin/reports/", {})]
    for report in reports.all_reports():
        for by in [key for key, _label in report.dimensions] or [""]:
            for period in ("365", "30"):
                query = {"period": period, **({"by": by} if by else {})}
                label = f"{report.key}{' by ' + by if by else ''}, {period} d"
                pages.append((label, f"/admin/reports/{report.key}/", query))
    return pages


def _time(client: Client, label: str, url: str, query: dict, requests: int) -> dict[str, Any]:
    for _ in range(2):
        client.get(url, query, secure=True)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, query, secure=True)
    # Counted now: the next request's request_started signal empties the connection's log.
    n_queries = len(queries)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url, query, secure=True)
        samples.append(time.perf_counter() - started)
    s = {"url": url, "query": query, "status": response.status_code, "queries": n_queries}
    s |= summary(samples)
    s["met"] = response.status_code == 200 and s["median_ms"] < TARGET_MS
    flag = "" if s["met"] else "  ** over target or failed **"
    print(
        f"    {label:<48} {s['status']}  p50 {s['median_ms']:>7.1f} ms  "
        f"p95 {s['p95_ms']:>7.1f} ms  {s['queries']:>3} queries{flag}",
        flush=True,
    )
    return s


def run(*, scale: float = 1.0) -> dict[str, Any]:
    return as_in_production(_run, scale=scale)


def _run(*, scale: float) -> dict[str, Any]:
    world, counts = _seed(scale=scale)
    requests = int(os.environ.get("BENCH_REPORTS_REQUESTS", "10"))
    client = Client(SERVER_NAME="127.0.0.1")
    sign_in(client, world.supervisor)
    pages = _pages()
    if len(pages) == 1:
        print("  no report is registered: only the index is timed", flush=True)
    print(f"  report pages ({requests} requests each; a supervisor, in-process, target "
          f"{TARGET_MS} ms):", flush=True)  # fmt: skip
    results = {"seed": counts, "load_average_before": load_average(), "pages": {}}
    for label, url, query in pages:
        results["pages"][label] = _time(client, label, url, query, requests)
    results["load_average_after"] = load_average()
    over = [label for label, s in results["pages"].items() if not s["met"]]
    print(f"  {len(pages) - len(over)} of {len(pages)} pages under {TARGET_MS} ms; over: {over}")
    print(f"  load average {results['load_average_before']} -> {results['load_average_after']}")
    return results
