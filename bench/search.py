"""The agents' search box at scale: 100,000 tickets and 300,000 messages (times --scale).

Builds organisations, customers (Chinese names, pinyin e-mail addresses) and units through
the services, then bulk-loads tickets, fault reports and messages in English and Chinese, and
their search terms as the services would write them (tickets.services.search_index, the same
functions; only the inserts are bulk: COPY on PostgreSQL). Then times, through the real admin
list view (signed-in, 2FA-verified superuser, in-process client, as the admin_list benchmark
does), the list page without a search beside searches of every kind: a reference part, a
serial number, a fault code, a name, an e-mail's local part, an English word, a Chinese word,
two words, and a very common word (the worst case: a fifth of all tickets match).

`make bench BENCH_ARGS=search` (add `--scale 0.1` for a quick run). BENCH_SEARCH_REQUESTS
(20) sets the requests per query.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import random
import time
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from accounts.models import Region
from accounts.services import organisation_create, user_create
from bench.loadgen import load_average, summary
from bench.ticket_data import _write
from core import search_terms
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
        for start in range(0, n, BATCH):
            tickets, reports, bodies = [], [], []
            for i in range(start, min(n, start + BATCH)):
                org = rng.choices(world["orgs"], weights=world["weights"])[0]
                unit = rng.choice(world["units"][org.pk]) if rng.random() < 0.9 else None
                pool = SUBJECTS_ZH if rng.random() < 0.5 else SUBJECTS_EN
                tickets.append(
                    Ticket(
                        reference=f"WD-2026-{i + 1:06d}",
                        created_at=now - dt.timedelta(minutes=n - i),
                        organisation=org,
                        requester=rng.choice(world["customers"][org.pk]),
                        unit=unit,
                        kind=Kind.FAULT if unit is not None else Kind.QUESTION,
                        channel=Channel.PORTAL,
                        subject=rng.choice(pool),
                        status=rng.choice([Status.NEW, Status.OPEN, Status.RESOLVED]),
                    )
                )
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
    finally:
        search_terms.term_hash = plain_hash
    from tickets.services import references

    references.counter_set(2026, n)
    if connection.vendor == "postgresql":
        print("  seeding: VACUUM ANALYZE ...", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("SELECT pg_total_relation_size('tickets_searchterm')")
            counts["index_mb"] = round(cursor.fetchone()[0] / 2**20)
    counts["seconds"] = round(time.perf_counter() - started, 1)
    print(f"  seeded {counts} ", flush=True)
    world["counts"] = counts
    world["n"] = n
    return world


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
        "e-mail local part": person.email.split("@")[0],
        "English word": "collimator",
        "Chinese word": "准直镜",
        "two words": "nozzle 气孔",
        "common word": "laser",
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
    logging.disable(logging.INFO)
    try:
        with override_settings(DEBUG=False, TEMPLATES=copy.deepcopy(settings.TEMPLATES)):
            return _run(scale=scale)
    finally:
        logging.disable(logging.NOTSET)


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
