"""The agents' search box at scale: 100,000 tickets and 300,000 messages (times --scale).

Builds organisations, customers (Chinese names, pinyin e-mail addresses) and units through
the services, then bulk-loads tickets, fault reports and messages in English and Chinese, and
their search terms as the services would write them (tickets.services.search_index, the same
functions; only the inserts are bulk). On PostgreSQL everything goes in by COPY: the messages
take their text from 60,000 distinct bodies (each cut, hashed and encrypted once), a ticket's
index rows are the union of its parts' (its reference, organisation, requester, unit, fault
code, subject, and bodies), the index's two B-trees and the tables' foreign keys are built
after the rows are in, and a sample of 200 tickets is compared with what field_terms and
message_terms give for the stored rows. A million tickets (`--scale 10`) seed in minutes
(docs/performance.md). Then times, through the real admin
list view (signed-in, 2FA-verified superuser, in-process client, as the admin_list benchmark
does), the list page without a search beside searches of every kind: a reference part, a
serial number, a fault code, a name, an e-mail's local part, an English word, a Chinese word,
two words, and a very common word (the worst case: a fifth of all tickets match).

`make bench BENCH_ARGS=search` (add `--scale 0.1` for a quick run). BENCH_SEARCH_REQUESTS
(20) sets the requests per query.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import time
from collections import Counter
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Region
from accounts.services import organisation_create, user_create
from bench.loadgen import as_in_production, load_average, summary
from bench.ticket_data import _write
from core import search_terms
from core.models import bulk_insert
from equipment.models import FaultCode, MachineModel, ProductLine
from equipment.services import unit_create
from testsupport import add_totp, sign_in
from tickets import search
from tickets.models import Channel, FaultReport, Kind, Message, SearchTerm, Status, Ticket
from tickets.services import search_index

TICKETS = 100_000
MESSAGES_PER_TICKET = 3
ORGANISATIONS = 240
CUSTOMERS_PER_ORG = 4
UNITS_PER_ORG = 8
BATCH = 5_000
LIST = "/admin/tickets/ticket/"

SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"),
]  # fmt: skip
GIVEN = [
    ("建国", "jianguo"), ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("秀英", "xiuying"),
    ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"),
    ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("涛", "tao"), ("明", "ming"),
    ("超", "chao"), ("秀兰", "xiulan"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"),
]  # fmt: skip
_EN_TEXT = (
    "laser power drops during welding the seam shows porosity spatter on stainless steel "
    "nozzle clogged wire feeder jams lens contaminated chiller alarm coolant flow low fiber "
    "cable damaged protective window cracked galvanised sheet aluminium penetration too "
    "shallow gas flow argon nitrogen torch overheats cladding head robot path offset "
    "calibration focus shifted beam quality unstable pulse frequency width parameters reset "
    "after firmware update error message display frozen operator restarted machine twice "
    "replacement part ordered technician visit scheduled warranty covers spare collimator "
    "mirror cleaned checked again tomorrow customer confirmed issue resolved thanks"
)
EN = _EN_TEXT.split()
ZH = [
    "激光功率", "不稳定", "焊缝", "出现气孔", "飞溅", "不锈钢", "喷嘴堵塞", "送丝机", "卡丝",
    "镜片污染", "冷水机", "报警", "水流量低", "光纤", "损坏", "保护镜", "破裂", "镀锌板",
    "铝合金", "熔深不足", "氩气", "氮气", "焊枪过热", "熔覆头", "机器人", "路径偏移",
    "校准", "焦点偏移", "光束质量", "脉冲频率", "参数重置", "固件升级", "屏幕死机",
    "重启两次", "更换配件", "工程师上门", "保修", "准直镜", "已清洁", "明天再检查",
    "问题已解决", "谢谢",
]  # fmt: skip
SUBJECTS_EN = [
    "Porosity in stainless seams", "Wire feeder jams", "Chiller alarm", "Lens contaminated",
    "Laser power unstable", "Nozzle clogged", "Robot path offset", "Protective window cracked",
]  # fmt: skip
SUBJECTS_ZH = [
    "不锈钢焊缝出现气孔", "送丝机卡丝", "冷水机报警", "镜片污染", "激光功率不稳定",
    "喷嘴堵塞", "机器人路径偏移", "保护镜破裂",
]  # fmt: skip


def _body(rng: random.Random) -> str:
    """A message in English, Chinese or both, from a Zipf-like choice of words."""

    def words(pool: list[str], n: int, sep: str) -> str:
        picks = [pool[min(int(rng.paretovariate(1.1)) - 1, len(pool) - 1)] for _ in range(n)]
        rng.shuffle(picks)
        return sep.join(picks)

    lang = rng.random()
    parts = []
    if lang < 0.6:
        parts.append(words(EN[rng.randrange(20) :] + EN, rng.randint(8, 25), " ") + ".")
    if lang > 0.4:
        parts.append(words(ZH[rng.randrange(10) :] + ZH, rng.randint(3, 8), "，") + "。")
    if rng.random() < 0.1:
        parts.append(f"Error E{rng.randrange(101, 141)} again, code {rng.randrange(10, 9999)}.")
    return " ".join(parts)


def _build_world(*, scale: float, rng: random.Random) -> dict[str, Any]:
    with transaction.atomic():
        admin = user_create(
            email="bench.admin@welddesk.example",
            full_name="Bench Admin",
            is_staff=True,
            is_superuser=True,
        )
        add_totp(admin)
        machines = [
            MachineModel.objects.create(
                code=code, name=code, product_line=line, wavelength_nm=1080, max_power_w=2000
            )
            for code, line in (
                ("hw-2000", ProductLine.HANDHELD),
                ("rw-6000", ProductLine.ROBOTIC),
                ("lc-4000", ProductLine.CLADDING),
            )
        ]
        codes = FaultCode.objects.bulk_create(
            FaultCode(code=f"E{n}", title_en=f"Fault {n}", title_zh=f"故障 {n}", severity="major")
            for n in range(101, 141)
        )
        regions = list(Region.objects.order_by("pk"))
        orgs, customers, units = [], {}, {}
        serial = 0
        for i in range(max(12, round(ORGANISATIONS * scale))):
            region = regions[i % len(regions)]
            org = organisation_create(
                actor=None,
                name=f"{region.name_zh}精工焊接有限公司 {i:03d}",
                name_en=f"{region.name_en} Precision Welding {i:03d}",
                region=region,
            )
            orgs.append(org)
            customers[org.pk] = []
            for k in range(CUSTOMERS_PER_ORG):
                (sz, sp), (gz, gp) = SURNAMES[(i * 7 + k) % 18], GIVEN[(i * 5 + k * 3) % 22]
                customers[org.pk].append(
                    user_create(
                        email=f"{sp}.{gp}{'' if i < 18 else i}@org{i:03d}.example",
                        full_name=sz + gz,
                        organisation=org,
                    )
                )
            units[org.pk] = []
            for _ in range(UNITS_PER_ORG):
                serial += 1
                machine = machines[serial % len(machines)]
                units[org.pk].append(
                    unit_create(
                        actor=None,
                        serial_number=f"{machine.code.upper()}-2025-{serial:05d}",
                        machine_model=machine,
                        organisation=org,
                        installed_on=dt.date(2025, 1, 1),
                    )
                )
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(orgs))]
    rng.shuffle(weights)
    return {
        "admin": admin,
        "orgs": orgs,
        "weights": weights,
        "customers": customers,
        "units": units,
        "codes": codes,
    }


MESSAGE_COLUMNS = [
    "ticket_id", "author_id", "from_customer", "internal", "body", "channel", "created_at",
]  # fmt: skip
TERM_COLUMNS = ["ticket_id", "term", "source"]


def _ticket(
    world: dict[str, Any], rng: random.Random, *, i: int, n: int, now, cum_weights: list[float]
) -> Ticket:
    """The i-th of n tickets (unsaved): an organisation by size, a unit nine times in ten, a
    Chinese or English subject, one of three statuses; the newest is the last."""
    org = rng.choices(world["orgs"], cum_weights=cum_weights)[0]
    unit = rng.choice(world["units"][org.pk]) if rng.random() < 0.9 else None
    return Ticket(
        reference=f"WD-2026-{i + 1:06d}",
        created_at=now - dt.timedelta(minutes=n - i),
        organisation=org,
        requester=rng.choice(world["customers"][org.pk]),
        unit=unit,
        kind=Kind.FAULT if unit is not None else Kind.QUESTION,
        channel=Channel.PORTAL,
        subject=rng.choice(SUBJECTS_ZH if rng.random() < 0.5 else SUBJECTS_EN),
        status=rng.choice([Status.NEW, Status.OPEN, Status.RESOLVED]),
    )


def _seed_each(
    world: dict[str, Any], *, n: int, now, rng: random.Random, counts: dict, started: float
) -> None:
    """Tickets, reports, messages and index rows batch by batch, every ticket's terms from
    search_index.field_terms and message_terms (SQLite, the small scales)."""
    cum_weights = list(itertools.accumulate(world["weights"]))
    for start in range(0, n, BATCH):
        tickets, reports, bodies = [], [], []
        for i in range(start, min(n, start + BATCH)):
            tickets.append(_ticket(world, rng, i=i, n=n, now=now, cum_weights=cum_weights))
            k = rng.randint(1, 2 * MESSAGES_PER_TICKET - 1)
            bodies.append([(_body(rng), j % 2 == 1, j == 3) for j in range(k)])
        with transaction.atomic():
            Ticket.objects.bulk_create(tickets)
            messages, terms = [], set()
            for ticket, conversation in zip(tickets, bodies, strict=True):
                code = None
                if ticket.unit is not None:
                    code = rng.choice(world["codes"])
                    reports.append(FaultReport(ticket=ticket, fault_code=code))
                terms.update(
                    (ticket.pk, h, s)
                    for h, s in search_index.field_terms(
                        ticket, fault_code=code.code if code else ""
                    )
                )
                for body, by_agent, internal in conversation:
                    author = world["admin"].pk if by_agent else ticket.requester_id
                    messages.append(
                        (
                            ticket.pk,
                            author,
                            not by_agent,
                            internal,
                            body,
                            Channel.PORTAL,
                            ticket.created_at,
                        )
                    )
                    m = Message(ticket=ticket, body=body, internal=internal)
                    terms.update((ticket.pk, h, s) for h, s in search_index.message_terms(m))
            FaultReport.objects.bulk_create(reports)
            _write(Message, MESSAGE_COLUMNS, messages)
            _write(SearchTerm, TERM_COLUMNS, sorted(terms))
        counts["tickets"] += len(tickets)
        counts["messages"] += len(messages)
        counts["terms"] += len(terms)
        rate = counts["tickets"] / (time.perf_counter() - started)
        print(
            f"    {counts['tickets']:>7,} / {n:,} tickets, {counts['messages']:,} messages, "
            f"{counts['terms']:,} index rows ({rate:,.0f} tickets/s)",
            flush=True,
        )


def _seed(*, scale: float) -> dict[str, Any]:
    rng = random.Random(20261207)
    started = time.perf_counter()
    print("  seeding: organisations, customers, units (services) ...", flush=True)
    world = _build_world(scale=scale, rng=rng)
    n = max(200, round(TICKETS * scale))
    now = timezone.now()
    counts = {"tickets": 0, "messages": 0, "terms": 0}
    # The index's own hashing, memoised for the bulk load (the vocabulary repeats).
    plain_hash = search_terms.term_hash
    search_terms.term_hash = cache(plain_hash)
    try:
        if connection.vendor == "postgresql":
            _seed_postgresql(world, n=n, now=now, rng=rng, counts=counts, started=started)
        else:
            _seed_each(world, n=n, now=now, rng=rng, counts=counts, started=started)
    finally:
        search_terms.term_hash = plain_hash
    from tickets.services import references

    references.counter_set(2026, n)
    if connection.vendor == "postgresql":
        print(f"  seeding: VACUUM ANALYZE ({time.perf_counter() - started:.0f} s) ...", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("SELECT pg_total_relation_size('tickets_searchterm')")
            counts["index_mb"] = round(cursor.fetchone()[0] / 2**20)
            cursor.execute("SELECT pg_database_size(current_database())")
            counts["database_mb"] = round(cursor.fetchone()[0] / 2**20)
    counts["seconds"] = round(time.perf_counter() - started, 1)
    print(f"  seeded {counts} ", flush=True)
    world["counts"] = counts
    world["n"] = n
    return world


# Distinct message bodies of the PostgreSQL bulk load: drawn as above, then each of the
# 3,000,000 messages takes one of them (its words, pairs and encryption are computed once).
BODY_POOL = 60_000
# The index's unique key and its ticket index, built after the rows are in (one sort each
# instead of 68 million insertions into two B-trees).
_TERM_INDEXES = {
    "searchterm_term_ticket_source": (
        "ALTER TABLE tickets_searchterm ADD CONSTRAINT searchterm_term_ticket_source "
        "UNIQUE (term, ticket_id, source)"
    ),
    "searchterm_ticket_idx": (
        "CREATE INDEX searchterm_ticket_idx ON tickets_searchterm (ticket_id, source)"
    ),
}


def _frags(hashes: set[tuple[int, int]]) -> frozenset[str]:
    """Index rows without their ticket, as COPY text: the ticket's key is put in front."""
    return frozenset(f"\t{h}\t{s}\n" for h, s in hashes)


def _field_parts(world: dict[str, Any]) -> dict[str, dict[Any, frozenset[str]]]:
    """The field terms of search_index.field_terms, cut by where they come from (each
    organisation, requester, unit, fault code and subject once): a ticket's are the union of
    its parts and its reference's. _check_terms compares the union with field_terms itself."""
    from tickets.models import TermSource

    h = search_terms.term_hash
    terms = search_terms.terms
    parts: dict[str, dict[Any, frozenset[str]]] = {
        "org": {},
        "requester": {},
        "unit": {None: frozenset()},
        "code": {None: frozenset()},
        "subject": {},
    }
    for org in world["orgs"]:
        found = terms(f"{org.name} {org.name_en}", unigrams=True)
        parts["org"][org.pk] = _frags({(h(t), TermSource.ORGANISATION) for t in found})
        for person in world["customers"][org.pk]:
            found = terms(person.full_name or "", unigrams=True) | terms(person.email or "")
            parts["requester"][person.pk] = _frags({(h(t), TermSource.REQUESTER) for t in found})
        for unit in world["units"][org.pk]:
            found = terms(unit.serial_number)
            parts["unit"][unit.pk] = _frags({(h(t), TermSource.SERIAL) for t in found})
    for code in world["codes"]:
        parts["code"][code.pk] = _frags({(h(t), TermSource.FAULT_CODE) for t in terms(code.code)})
    for subject in SUBJECTS_EN + SUBJECTS_ZH:
        found = terms(subject, unigrams=True)
        parts["subject"][subject] = _frags({(h(t), TermSource.SUBJECT) for t in found})
    return parts


def _reference_frags(reference: str) -> frozenset[str]:
    from tickets.models import TermSource

    h = search_terms.term_hash
    return _frags({(h(t), TermSource.REFERENCE) for t in search_index.reference_terms(reference)})


def _seed_postgresql(
    world: dict[str, Any], *, n: int, now, rng: random.Random, counts: dict, started: float
) -> None:
    """Tickets, fault reports, messages and index rows in batches, all by COPY; the index
    rows into a table without its two indexes, which are built at the end."""
    print(f"  seeding: world built ({time.perf_counter() - started:.0f} s) ...", flush=True)
    pool = [_body(rng) for _ in range(min(BODY_POOL, n * MESSAGES_PER_TICKET))]
    body_frags = [
        (
            _frags(search_index.message_terms(Message(body=body, internal=False))),
            _frags(search_index.message_terms(Message(body=body, internal=True))),
        )
        for body in pool
    ]
    parts = _field_parts(world)
    print(
        f"  seeding: {len(pool):,} distinct bodies cut and hashed "
        f"({time.perf_counter() - started:.0f} s) ...",
        flush=True,
    )
    foreign_keys = _drop_foreign_keys(
        ["tickets_ticket", "tickets_faultreport", "tickets_message", "tickets_searchterm"]
    )
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(
            "ALTER TABLE tickets_searchterm DROP CONSTRAINT searchterm_term_ticket_source"
        )
        cursor.execute("DROP INDEX searchterm_ticket_idx")
    cum_weights = list(itertools.accumulate(world["weights"]))
    admin_pk = world["admin"].pk
    spent = Counter()
    batch = BATCH * 4
    for start in range(0, n, batch):
        tickets, reports = [], []
        for i in range(start, min(n, start + batch)):
            tickets.append(_ticket(world, rng, i=i, n=n, now=now, cum_weights=cum_weights))
        mark = time.perf_counter()
        with transaction.atomic():
            bulk_insert(tickets)
            spent["tickets"] += time.perf_counter() - mark
            mark = time.perf_counter()
            messages, lines = [], []
            for ticket in tickets:
                code = rng.choice(world["codes"]) if ticket.unit_id is not None else None
                if code is not None:
                    reports.append(FaultReport(ticket=ticket, fault_code=code))
                rows = set(_reference_frags(ticket.reference))
                rows |= parts["org"][ticket.organisation_id]
                rows |= parts["requester"][ticket.requester_id]
                rows |= parts["unit"][ticket.unit_id]
                rows |= parts["code"][code.pk if code else None]
                rows |= parts["subject"][ticket.subject]
                for j in range(rng.randint(1, 2 * MESSAGES_PER_TICKET - 1)):
                    b = rng.randrange(len(pool))
                    by_agent, internal = j % 2 == 1, j == 3
                    messages.append(
                        (
                            ticket.pk,
                            admin_pk if by_agent else ticket.requester_id,
                            not by_agent,
                            internal,
                            pool[b],
                            Channel.PORTAL,
                            ticket.created_at,
                        )
                    )
                    rows |= body_frags[b][internal]
                key = str(ticket.pk)
                lines.append("".join(key + row for row in rows))
                counts["terms"] += len(rows)
            spent["terms (python)"] += time.perf_counter() - mark
            mark = time.perf_counter()
            bulk_insert(reports)
            spent["fault reports"] += time.perf_counter() - mark
            mark = time.perf_counter()
            _write(Message, MESSAGE_COLUMNS, messages)
            spent["messages"] += time.perf_counter() - mark
            mark = time.perf_counter()
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(
                    "COPY tickets_searchterm (ticket_id, term, source) FROM STDIN"
                ) as copy,
            ):
                for k in range(0, len(lines), 1000):
                    copy.write("".join(lines[k : k + 1000]))
            spent["index rows"] += time.perf_counter() - mark
        counts["tickets"] += len(tickets)
        counts["messages"] += len(messages)
        rate = counts["tickets"] / (time.perf_counter() - started)
        print(
            f"    {counts['tickets']:>9,} / {n:,} tickets, {counts['messages']:,} messages, "
            f"{counts['terms']:,} index rows ({rate:,.0f} tickets/s; "
            + ", ".join(f"{k} {v:.0f} s" for k, v in spent.items())
            + ")",
            flush=True,
        )
    print(f"  seeding: index of the terms ({time.perf_counter() - started:.0f} s) ...", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for statement in _TERM_INDEXES.values():
            cursor.execute(statement)
        print(
            f"  seeding: foreign keys checked ({time.perf_counter() - started:.0f} s) ...",
            flush=True,
        )
        for statement in foreign_keys:
            cursor.execute(statement)
    _check_terms(world, n)


def _drop_foreign_keys(tables: list[str]) -> list[str]:
    """Drop the foreign keys of these tables; the statements that add them back (each checks
    every row in one join). Django's foreign keys are deferred: kept, every row inserted
    would queue a check for the commit, 68 million of them for the index rows alone."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
            [tables],
        )
        found = cursor.fetchall()
        for table, name, _definition in found:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {d}' for table, name, d in found]


def _check_terms(world: dict[str, Any], n: int) -> None:
    """The bulk load wrote what the services write: the index rows of a sample of tickets
    equal search_index.field_terms and message_terms of the stored tickets and messages."""
    sample = random.Random(1).sample(range(1, n + 1), min(200, n))
    tickets = Ticket.objects.filter(reference__in=[f"WD-2026-{i:06d}" for i in sample])
    tickets = tickets.select_related(
        "organisation", "unit", "requester", "fault_report__fault_code"
    )
    for ticket in tickets:
        expected = search_index.field_terms(ticket)
        for message in Message.objects.filter(ticket=ticket):
            expected |= search_index.message_terms(message)
        stored = set(SearchTerm.objects.filter(ticket=ticket).values_list("term", "source"))
        assert stored == expected, f"index rows of {ticket.reference} differ from the services'"


def _queries(world: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """One query of each kind, each drawn from the data so that it finds something."""
    org = world["orgs"][0]
    person = world["customers"][org.pk][0]
    unit = world["units"][org.pk][1]
    number = rng.randrange(1, world["n"])
    return {
        "reference (full)": f"WD-2026-{number:06d}",
        "reference (number)": f"{number:06d}",
        "serial number": unit.serial_number,
        "fault code": "E117",
        "name (Chinese)": person.full_name,
        "e-mail": person.email,
        "e-mail local part": person.email.split("@")[0],
        "English word": "collimator",
        "Chinese word": "准直镜",
        "two words": "nozzle 气孔",
        "common word": "laser",
        "no match": "zzyzx",
    }


def _time(client: Client, label: str, params: dict[str, str], requests: int) -> dict:
    for _ in range(2):
        client.get(LIST, params, secure=True)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST, params, secure=True)
    n_queries = len(queries)
    db_ms = _execution_ms([q["sql"] for q in queries.captured_queries])
    samples, cpu = [], []
    for _ in range(requests):
        started, cpu_started = time.perf_counter(), time.process_time()
        client.get(LIST, params, secure=True)
        samples.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    everything = Ticket.objects.all()
    found = search.search_tickets(everything, params["q"]).count() if "q" in params else None
    s = {
        "query": params.get("q", ""),
        "status": response.status_code,
        "queries": n_queries,
        "matches": found,
        **summary(samples),
        "cpu_median_ms": summary(cpu)["median_ms"],
        "db_execution_ms": db_ms,
    }
    db = f"  db {db_ms:>6.1f} ms" if db_ms is not None else ""
    print(
        f"    {label:<20} {s['status']}  p50 {s['median_ms']:>7.1f} ms  p95 {s['p95_ms']:>7.1f} ms"
        f"  cpu {s['cpu_median_ms']:>6.1f} ms{db}  {n_queries:>3} queries  {found!s:>6} matches"
        f"  {s['query']}",
        flush=True,
    )
    return s


def _execution_ms(statements: list[str]) -> float | None:
    """PostgreSQL's own execution time of a request's statements (EXPLAIN ANALYZE), summed:
    what the database spends, apart from the Python side and from a busy machine's queueing."""
    if connection.vendor != "postgresql":
        return None
    total = 0.0
    with connection.cursor() as cursor:
        for sql in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
            plan = plan[0] if isinstance(plan, list) else plan
            total += plan.get("Execution Time", 0.0) + plan.get("Planning Time", 0.0)
    return round(total, 1)


def run(*, scale: float = 1.0) -> dict[str, Any]:
    return as_in_production(_run, scale=scale)


def _run(*, scale: float) -> dict[str, Any]:
    world = _seed(scale=scale)
    requests = int(os.environ.get("BENCH_SEARCH_REQUESTS", "20"))
    client = Client(SERVER_NAME="127.0.0.1")
    sign_in(client, world["admin"])
    print(f"  admin list with search ({requests} requests each; superuser, in-process):")
    results = {"seed": world["counts"], "load_average_before": load_average(), "pages": {}}
    results["pages"]["list, no search"] = _time(client, "list, no search", {}, requests)
    for label, q in _queries(world, random.Random(7)).items():
        results["pages"][label] = _time(client, label, {"q": q}, requests)
    results["pages"]["two words, page 2"] = _time(
        client, "two words, page 2", {"q": "nozzle 气孔", "p": "2"}, requests
    )
    results["load_average_after"] = load_average()
    print(f"  load average {results['load_average_before']} -> {results['load_average_after']}")
    return results
