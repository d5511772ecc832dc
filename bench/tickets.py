"""Tickets at scale: the SLA scan, the admin and API list pages, and creation against a floor.

Seeds 100,000 open tickets (times --scale) plus a history of paused and finished ones
(`bench/ticket_data.py`), then measures:

- the SLA scan (`sla_scan`) with about 20,000 timers due at the scan instant;
- the admin ticket list as a signed-in, 2FA-verified superuser (in-process test client);
- the API ticket list with an organisation's API key (in-process test client);
- ticket creation through the API under concurrent clients, served by gunicorn with DEBUG off,
  against the floor: a bare Django + DRF endpoint inserting one row (`bench/floor/`), served by
  the same gunicorn process, behind the same middleware and workers, in the same run.

Server knobs come from the environment: BENCH_WORKERS (4 sync workers), BENCH_CLIENTS (16),
BENCH_SECONDS (15 measured seconds per endpoint), BENCH_ROUNDS (3: floor and create alternate),
BENCH_WARMUP (3 s), DB_CONN_MAX_AGE (60). BENCH_ONLY=admin_list,api_list (any of scan,
admin_list, api_list, pages, create) runs only those parts after the seed; `pages` is the
agents' home, two reports and the portal (`bench_pages`).
"""

from __future__ import annotations

import base64
import json
import os
import platform
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db import connection, reset_queries, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import Resolver404, resolve, reverse

from accounts.models import Organisation
from audit.models import AuditEvent
from audit.services import audit_seal
from bench.floor.models import FloorRow
from bench.loadgen import (
    ROOT,
    Load,
    as_in_production,
    drive,
    load_average,
    ms,
    probe,
    serve,
    server_env,
    summary,
)
from bench.ticket_data import World, seed
from core.queue import send_now
from notifications.models import Outbox
from notifications.services import render_message
from testsupport import sign_in
from tickets.models import Message, SLATimer, Ticket
from tickets.services.escalation import sla_scan

LIST_REQUESTS = 30
SEQUENTIAL_CREATES = 20
TICKETS_API = "/api/v1/tickets/"
FLOOR_API = "/bench/floor/"
# The token floor: the same insert behind the ticket API's API-key authentication and throttle.
TOKEN_FLOOR_API = "/bench/floor/token/"  # noqa: S105 - a path, not a secret


# ---------------------------------------------------------------------------------- scan


def bench_scan(world: World) -> dict[str, Any]:
    """Time one scan with its backlog due, then the sealing of its audit events, then an idle scan.

    The scan seals its own audit events in its transaction (`audit_record_sets(seal=True)`);
    whatever it left pending (nothing, since then) is sealed right after and timed on its own
    (`audit_seal()` over everything left pending), so no part of the work goes unmeasured.
    The seed's own events are sealed first, untimed, as beat would have done long before, and
    the process's one-time costs are paid and reported apart (`warm_up_seconds`).
    """
    audit_seal()
    warm_up = _warm_up()
    audit_before, outbox_before = _audit_events(), Outbox.objects.count()
    load_before = load_average()
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        counts = sla_scan(now=world.now)
        elapsed = time.perf_counter() - started
    n_queries = len(queries)
    pending = _pending_events()
    with CaptureQueriesContext(connection) as seal_queries:
        started = time.perf_counter()
        sealed = audit_seal()
        seal_elapsed = time.perf_counter() - started
    started = time.perf_counter()
    idle = sla_scan(now=world.now)
    idle_elapsed = time.perf_counter() - started
    result = {
        **counts,
        "open_tickets": world.counts["open_tickets"],
        "seconds": round(elapsed, 3),
        "queries": n_queries,
        "audit_events": _audit_events() - audit_before,
        "audit_pending_after_scan": pending,
        "seal_seconds": round(seal_elapsed, 3),
        "seal_queries": len(seal_queries),
        "sealed": sealed,
        "outbox_messages": Outbox.objects.count() - outbox_before,
        "idle_scan_ms": ms(idle_elapsed),
        "idle_scan_timers": idle["timers"],
        "warm_up_seconds": round(warm_up, 3),
        "load_average": {"before": load_before, "after": load_average()},
    }
    print(
        f"  SLA scan: {result['timers']:,} timers fired, {result['warnings']:,} warnings, "
        f"{result['breaches']:,} breaches, {result['escalations']:,} escalations in "
        f"{elapsed:.2f} s ({n_queries} queries, {result['audit_events']:,} audit events, "
        f"{result['outbox_messages']} messages); nothing due: {result['idle_scan_ms']} ms"
    )
    print(
        f"  sealing afterwards: {sealed:,} events ({pending:,} left pending by the scan) in "
        f"{seal_elapsed:.2f} s ({len(seal_queries)} queries); load average {load_before} "
        f"before the scan, {result['load_average']['after']} after sealing; one-time warm-up "
        f"of the process before the scan {warm_up:.2f} s"
    )
    forget_queued_tasks()  # the notices' deliveries and the seal task: no worker takes them
    return result


def _warm_up() -> float:
    """Pay once, untimed, what only the first scan of a process pays; return the seconds.

    The scan runs every minute in a Celery worker that has published, reversed URLs and
    rendered notices before: the first broker publish (connection, producer), the URL
    resolver and the notice templates and catalogs cost a few hundred milliseconds once.
    """
    started = time.perf_counter()
    send_now("audit.seal")  # to the bench queue, deleted at the end with the queue
    reverse("admin:tickets_ticket_changelist")
    context = {"lines": [], "total": 1, "more": 1, "more_links": []}
    for language, _name in settings.LANGUAGES:
        render_message("email/sla_escalation", context, language=language)
    return time.perf_counter() - started


def _pending_events() -> int:
    """Audit events written but not yet sealed into the chain."""
    try:
        return apps.get_model("audit", "PendingAuditEvent").objects.count()
    except LookupError:
        return 0


# ---------------------------------------------------------------------------------- list pages


def _time_pages(client: Client, urls: dict[str, str], headers: dict[str, str]) -> dict:
    """Warm up, count one request's queries, then time LIST_REQUESTS requests per URL."""
    out = {}
    for label, url in urls.items():
        for _ in range(3):
            client.get(url, secure=True, headers=headers)
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, secure=True, headers=headers)
        n_queries = len(queries)  # read now: the next request clears the connection's log
        samples = []
        for _ in range(LIST_REQUESTS):
            started = time.perf_counter()
            r = client.get(url, secure=True, headers=headers)
            samples.append(time.perf_counter() - started)
            if r.status_code != 200:
                break
        out[label] = {
            "url": url,
            "status": response.status_code,
            "queries": n_queries,
            "bytes": len(response.content),
            "requests": len(samples),
            **summary(samples),
        }
        s = out[label]
        print(
            f"    {label:<22} {s['status']}  median {s['median_ms']:>7.1f} ms  "
            f"p95 {s['p95_ms']:>7.1f} ms  {s['queries']:>3} queries  {url}"
        )
    return out


def bench_admin_list(world: World) -> dict[str, Any]:
    client = Client(SERVER_NAME="127.0.0.1")
    sign_in(client, world.admin)
    base = "/admin/tickets/ticket/"
    per_page = admin.site._registry[Ticket].list_per_page
    middle = max(1, Ticket.objects.count() // per_page // 2)
    queue = Ticket.objects.filter(queue__isnull=False).values_list("queue_id", flat=True)[0]
    print(f"  admin list ({per_page} rows a page; superuser, 2FA verified, in-process):")
    return _time_pages(
        client,
        {
            "first page": base,  # by urgency (sla_next_due), the default
            "status=open": f"{base}?status__exact=open",
            f"page {middle + 1}": f"{base}?p={middle}",
            # The sort switch: priority then urgency; recently updated (no index: a top-N
            # sort of the filtered rows).
            "o=priority": f"{base}?o=priority",
            "o=updated": f"{base}?o=updated",
            # A saved view's kind of query: my queue's unassigned tickets, by urgency.
            "unassigned, queue": f"{base}?assigned=unassigned&queue__id__exact={queue}",
        },
        {},
    )


def bench_pages(world: World, org: Organisation) -> dict[str, Any]:
    """The other pages that list or count tickets, as the people who use them.

    - the agents' home (`/admin/`, its blocks: my tickets, due soon, unassigned, callbacks)
      as the agent holding the most open tickets;
    - the reports index and two reports, over 30 and 365 days, as a supervisor (the
      report pages of bench/reports.py);
    - the portal home and ticket list (open, all, a middle page of all) as a customer of
      the largest organisation.
    """
    from bench.reports import _pages
    from tickets.models import Status

    out: dict[str, Any] = {"load_average_before": load_average()}
    loads = Counter(
        Ticket.objects.filter(status__in=[Status.NEW, Status.OPEN], assignee__isnull=False)
        .values_list("assignee_id", flat=True)
        .iterator()
    )
    agent_id, load = loads.most_common(1)[0]
    agent = type(world.admin).objects.get(pk=agent_id)
    client = Client(SERVER_NAME="127.0.0.1")
    sign_in(client, agent)
    print(f"  agent home (an agent with {load:,} open tickets assigned, in-process):")
    out["agent_home"] = _time_pages(client, {"home": "/admin/"}, {})
    out["agent_home"]["agent_open_tickets"] = load

    client = Client(SERVER_NAME="127.0.0.1")
    sign_in(client, world.supervisor)
    chosen: dict[str, str] = {}
    keys: list[str] = []
    for label, url, query in _pages():  # the index, then each report's dimensions and periods
        key = url.rstrip("/").rsplit("/", 1)[-1]
        if key != "reports" and key not in keys:
            if len(keys) == 2:
                break
            keys.append(key)
        first_dimension = query.get("by") in (None, _first_dimension(key))
        if key == "reports" or first_dimension:
            chosen[label] = f"{url}?{urlencode(query)}" if query else url
    print("  reports (a supervisor, in-process):")
    out["reports"] = _time_pages(client, chosen, {})

    customer = world.customers[org.pk][0]
    client = Client(SERVER_NAME="127.0.0.1")
    sign_in(client, customer)
    total = Ticket.objects.filter(organisation=org).count()
    middle = max(1, total // 25 // 2)
    print(f"  portal (a customer of the largest organisation, {total:,} tickets, in-process):")
    out["portal"] = _time_pages(
        client,
        {
            "home": "/portal/",
            "tickets (open)": "/portal/tickets/",
            "tickets (all)": "/portal/tickets/?state=all",
            f"all, page {middle}": f"/portal/tickets/?state=all&page={middle}",
        },
        {},
    )
    out["portal"]["organisation_tickets"] = total
    out["load_average_after"] = load_average()
    print(f"  load average {out['load_average_before']} -> {out['load_average_after']}")
    return out


def _first_dimension(key: str) -> str | None:
    from core import reports

    for report in reports.all_reports():
        if report.key == key:
            return report.dimensions[0][0] if report.dimensions else None
    return None


def api_missing() -> str | None:
    """Return why the tickets API cannot be measured, or None when it is there."""
    try:
        from accounts.services import api_keys
    except ImportError as exc:
        return f"accounts.services.api_keys is missing ({exc})"
    if not hasattr(api_keys, "api_key_create"):
        return "accounts.services.api_keys.api_key_create is missing"
    try:
        resolve(TICKETS_API)
    except Resolver404:
        return f"no route {TICKETS_API}"
    return None


def api_key_for(world: World, org: Organisation) -> str:
    from accounts.services.api_keys import api_key_create

    _key, token = api_key_create(
        actor=world.supervisor, organisation=org, name="bench", scope="read_write"
    )
    return token


def bench_api_list(org: Organisation, token: str) -> dict[str, Any]:
    client = Client(SERVER_NAME="127.0.0.1")
    headers = {"authorization": f"Api-Key {token}", "accept": "application/json"}
    first = client.get(TICKETS_API, secure=True, headers=headers)
    if first.status_code != 200:
        print(f"  API list: answered {first.status_code}: {first.content[:300]!r}")
        return {"skipped": f"answered {first.status_code}"}
    count = first.json().get("count", 0)
    middle = max(1, count // max(1, len(first.json().get("results", [])) or 25) // 2)
    print(f"  API list (API key of an organisation with {count:,} tickets, in-process):")
    size = len(first.json().get("results", [])) or 25
    cursor = _cursor_at(org, (middle - 1) * size)
    result = _time_pages(
        client,
        {
            "first page": TICKETS_API,
            f"page {middle}": f"{TICKETS_API}?page={middle}",
            "status=open": f"{TICKETS_API}?status=open",
            # Cursor mode: the first page, and the cursor that starts where page `middle` does.
            "cursor, first": f"{TICKETS_API}?cursor=",
            f"cursor at page {middle}": f"{TICKETS_API}?cursor={cursor}",
        },
        headers,
    )
    filtered = client.get(f"{TICKETS_API}?status=open", secure=True, headers=headers)
    result["organisation_tickets"] = count
    if filtered.status_code == 200:
        result["status=open"]["count"] = filtered.json().get("count")
    return result


def _cursor_at(org: Organisation, index: int) -> str:
    """The API cursor (DRF's encoding) of a page starting at the index-th ticket, newest first."""
    newest_first = Ticket.objects.filter(organisation=org).order_by("-created_at", "-pk")
    position = newest_first.values_list("created_at", flat=True)[max(0, index - 1)]
    return quote(base64.b64encode(urlencode({"p": str(position)}).encode()).decode())


# ---------------------------------------------------------------------------------- creation


def _create_body(serial: str) -> Callable[[int, int], bytes]:
    def body(i: int, n: int) -> bytes:
        return json.dumps(
            {
                "subject": f"Porosity in stainless seams (bench {i}-{n})",
                "body": "Since this morning every seam shows pores. Gas bottle replaced.",
                "kind": "fault",
                "priority": 2,
                "unit": serial,
            }
        ).encode()

    return body


# One key sends every request, as in the server (bench.loadgen.server_env): its rate limit is
# lifted there, and here too, once around the whole measurement rather than in each timed
# request (a second run within a minute of the first met the first's window and timed 429s).
@override_settings(API_KEY_RATE_PER_MINUTE=100_000_000, API_USER_RATE_PER_MINUTE=100_000_000)
def in_process(path: str, body: Callable[[int, int], bytes], headers: dict) -> dict[str, Any]:
    """One request's queries, then sequential requests: latency and how long locks are held.

    A lock is timed from the statement that takes it to the commit (an on_commit hook set by
    that statement): the ticket counter row (`UPDATE tickets_ticketcounter`) and the audit
    chain head (`SELECT ... FOR UPDATE` on audit_chainhead). Concurrent creates queue on both.
    """
    client = Client(SERVER_NAME="127.0.0.1")

    def post(n: int):
        response = client.post(
            path, body(-1, n), content_type="application/json", secure=True, headers=headers
        )
        # An answer other than 2xx is not a timing of the path: stop.
        if not 200 <= response.status_code < 300:
            raise RuntimeError(
                f"POST {path} answered {response.status_code}: {response.content[:300]!r}"
            )
        return response

    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        status = post(0).status_code
    kinds = Counter(q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries)
    result: dict[str, Any] = {"status": status, "queries": len(queries), "by_kind": dict(kinds)}

    held: dict[str, list[float]] = {"counter": [], "chain_head": []}
    taken: set[str] = set()

    def watch(execute, sql, params, many, context):
        text = sql.lstrip().upper()
        lock = None
        if text.startswith("UPDATE") and "TICKETS_TICKETCOUNTER" in text:
            lock = "counter"
        elif "AUDIT_CHAINHEAD" in text and "FOR UPDATE" in text:
            lock = "chain_head"
        if lock and lock not in taken and connection.in_atomic_block:
            taken.add(lock)
            since = time.perf_counter()
            transaction.on_commit(lambda: held[lock].append(time.perf_counter() - since))
        return execute(sql, params, many, context)

    if os.environ.get("BENCH_PROFILE"):
        _profile(post, path)
    samples = []
    with connection.execute_wrapper(watch):
        for n in range(1, SEQUENTIAL_CREATES + 1):
            taken.clear()
            started = time.perf_counter()
            post(n)
            samples.append(time.perf_counter() - started)
    result["sequential"] = summary(samples)
    for lock, values in held.items():
        if values:
            result[f"{lock}_lock_held_ms"] = ms(statistics.median(values))
    return result


def _profile(post: Callable[[int], Any], path: str) -> None:
    """BENCH_PROFILE=1: where 100 requests spend their time (cProfile, top 35 by own+callees);
    the whole profile is kept in bench/results/profile-<path>-<time>.pstats."""
    import cProfile
    import pstats

    n_requests = 100
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(1000, 1000 + n_requests):
        post(n)
    profiler.disable()
    name = path.strip("/").replace("/", "-")
    out = ROOT / "bench" / "results" / f"profile-{name}-{time.strftime('%Y%m%d-%H%M%S')}.pstats"
    out.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(out))
    print(f"  profile of {n_requests} POST {path} (kept in {out.relative_to(ROOT)}):")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


def _audit_events() -> int:
    """Audit events in the chain plus any still waiting to be sealed into it."""
    try:
        pending = apps.get_model("audit", "PendingAuditEvent").objects.count()
    except LookupError:
        pending = 0
    return AuditEvent.objects.count() + pending


def _rows() -> dict[str, int]:
    return {
        "tickets": Ticket.objects.count(),
        "timers": SLATimer.objects.count(),
        "messages": Message.objects.count(),
        "audit_events": _audit_events(),
        "outbox": Outbox.objects.count(),
        "floor_rows": FloorRow.objects.count(),
    }


def bench_create(world: World, org: Organisation | None, token: str | None) -> dict[str, Any]:
    workers = int(os.environ.get("BENCH_WORKERS", "4"))
    clients = int(os.environ.get("BENCH_CLIENTS", "16"))
    seconds = float(os.environ.get("BENCH_SECONDS", "15"))
    warmup = float(os.environ.get("BENCH_WARMUP", "3"))
    rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
    result: dict[str, Any] = {
        "server": "gunicorn, sync workers, DEBUG off; floor and create in the same server",
        "workers": workers,
        "clients": clients,
        "seconds": seconds,
        "rounds": rounds,
        "warmup_seconds": warmup,
        "db_conn_max_age": int(server_env()["DB_CONN_MAX_AGE"]),
        "audit_sealing": getattr(settings, "AUDIT_SEALING", "inline"),
        "celery": "eager: deliveries run in the request"
        if settings.CELERY_TASK_ALWAYS_EAGER
        else "published to the broker; no worker runs",
    }
    floor_body = _create_body("FLOOR")
    targets = [("floor", FLOOR_API, floor_body, {})]
    result["floor_in_process"] = in_process(FLOOR_API, floor_body, {})
    if token is not None and org is not None:
        headers = {"Authorization": f"Api-Key {token}"}
        create_body = _create_body(world.units[org.pk][0].serial_number)
        targets.append(("token_floor", TOKEN_FLOOR_API, floor_body, headers))
        result["token_floor_in_process"] = in_process(TOKEN_FLOOR_API, floor_body, headers)
        targets.append(("create", TICKETS_API, create_body, headers))
        result["create_in_process"] = c = in_process(TICKETS_API, create_body, headers)
        locks = ", ".join(
            f"{name.replace('_', ' ')} row locked {c[f'{name}_lock_held_ms']} ms"
            for name in ("counter", "chain_head")
            if f"{name}_lock_held_ms" in c
        )
        print(
            f"  one create in-process: {c['queries']} queries, {c['sequential']['median_ms']} ms"
            f" (median of {SEQUENTIAL_CREATES}){'; ' + locks if locks else ''}"
        )
    log_path = ROOT / "var" / "bench-gunicorn.log"
    print(
        f"  create throughput: gunicorn {workers} sync workers, {clients} clients, "
        f"{warmup:.0f} s warm-up, then floor and create alternating in {rounds} rounds, "
        f"{seconds:.0f} s each in all (server log: var/{log_path.name})"
    )
    loads: dict[str, Load] = {}
    try:
        with serve(workers=workers, log_path=log_path) as address:
            for target in list(targets):
                name, path, body, headers = target
                status, data = probe(address, path, body(0, 0), headers)
                if status != 201 or (name == "create" and b"reference" not in data):
                    result[name] = {"skipped": f"probe answered {status}: {data[:300]!r}"}
                    print(f"    {name}: probe answered {status}: {data[:300]!r}")
                    targets.remove(target)
                    continue
                drive(
                    address, path=path, body=body, headers=headers, clients=clients, seconds=warmup
                )
            loads = {name: Load() for name, *_ in targets}
            before, load_before = _rows(), load_average()
            for _ in range(rounds):
                for name, path, body, headers in targets:
                    loads[name].add(
                        drive(
                            address,
                            path=path,
                            body=body,
                            headers=headers,
                            clients=clients,
                            seconds=seconds / rounds,
                        )
                    )
            after = _rows()
            result["load_average"] = {"before": load_before, "after": load_average()}
    finally:
        forget_queued_tasks()
    for name, load in loads.items():
        result[name] = load.report()
        _print_load(name, result[name])
    if "floor" in loads:
        # Both floors insert into the same table.
        result["floor"]["rows_written_both_floors"] = after["floor_rows"] - before["floor_rows"]
    if "create" in loads:
        made = after["tickets"] - before["tickets"]
        result["create"]["rows_written"] = made
        if made:
            result["create"]["rows_per_create"] = {
                k: round((after[k] - before[k]) / made, 2)
                for k in ("timers", "messages", "audit_events", "outbox")
            }
        floor_rate = result.get("floor", {}).get("per_s")
        result["ratio"] = round(result["create"]["per_s"] / floor_rate, 3) if floor_rate else None
        if result["ratio"] is not None:
            print(f"    create / floor = {result['ratio']:.0%}")
        token_rate = result.get("token_floor", {}).get("per_s")
        result["ratio_token"] = (
            round(result["create"]["per_s"] / token_rate, 3) if token_rate else None
        )
        if result["ratio_token"] is not None:
            print(f"    create / token floor = {result['ratio_token']:.0%}")
    elif "create" not in result:
        result["create"] = {"skipped": api_missing() or "no API key"}
        print(f"    create: not measured ({result['create']['skipped']})")
    return result


def _print_load(label: str, r: dict[str, Any]) -> None:
    print(
        f"    {label:<7} {r['per_s']:>8,.1f} req/s  median {r['median_ms']:>6.1f} ms  "
        f"p95 {r['p95_ms']:>6.1f} ms  {r['successes']:,} ok, {r['errors']} errors {r['answers']}"
    )


def forget_queued_tasks() -> None:
    """Delete the delivery tasks the run queued: no worker of a real desk may ever take them."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis"):
        return
    import redis

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client = redis.Redis.from_url(url)
    try:
        client.delete(queue, *client.scan_iter(match=f"_kombu.binding*.{queue}"))
    finally:
        client.close()


# ---------------------------------------------------------------------------------- run


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "database": connection.vendor,
        "load_average": load_average(),
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0]
    try:
        with open("/proc/meminfo") as fh:
            info["memory_gib"] = round(int(fh.readline().split()[1]) / 1024**2)
    except OSError:
        pass
    return info


def run(*, scale: float = 1.0) -> dict[str, Any]:
    return as_in_production(_run, scale=scale)


def _only(part: str) -> bool:
    """Whether BENCH_ONLY (comma-separated parts, e.g. "admin_list,api_list") names a part."""
    only = {p.strip() for p in os.environ.get("BENCH_ONLY", "").split(",") if p.strip()}
    return not only or part in only


def _run(*, scale: float) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "scale": scale}
    world = seed(scale=scale)
    results["seed"] = world.counts
    if _only("scan"):
        results["scan"] = bench_scan(world)
    if _only("admin_list"):
        results["admin_list"] = bench_admin_list(world)
    missing = api_missing()
    org = token = None
    if missing is None:
        # The largest customer: its key lists thousands of tickets.
        org = world.orgs[max(range(len(world.orgs)), key=lambda i: world.org_weights[i])]
        token = api_key_for(world, org)
        if _only("api_list"):
            results["api_list"] = bench_api_list(org, token)
    if _only("pages"):
        largest = world.orgs[max(range(len(world.orgs)), key=lambda i: world.org_weights[i])]
        results["pages"] = bench_pages(world, largest)
    elif _only("api_list"):
        results["api_list"] = {"skipped": missing}
        print(f"  API list: not measured ({missing})")
    if _only("create"):
        results["create"] = bench_create(world, org, token)
    return results
