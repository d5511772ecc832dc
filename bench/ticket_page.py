"""Ticket page benchmark: one ticket shown to an agent, a customer and an API key (issue 22.2).

Target: at most 8 queries and under 15 ms in-process at any thread length, the read audit and
the decryption of every message shown included. A small desk is built by the services (as in
bench/ticket_data.py), then two tickets of its largest customer: one with 1 message and one
with 200 (customer and agent turns, every third an internal note, a photo on every tenth), all
written by the services, so bodies are encrypted and every row is real.

Each of the staff ticket page (an agent with a verified second factor), the portal's ticket
page (the requester) and the API's ticket detail (a read key of the organisation) is asked 3
times to warm, once to count its statements, then BENCH_PAGE_REQUESTS times (default 40)
through Django's test client in this process (no server, no network), DEBUG off. Reported:
median and 95th percentile of wall time, median process CPU time per request, statements.
With BENCH_PROFILE=1 each page is also profiled (cProfile, 20 requests) into
bench/results/ticket_page-<page>.prof (not committed; read with `python -m pstats`).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiScope
from accounts.services.api_keys import api_key_create
from bench import ticket_data
from bench.loadgen import as_in_production, load_average, summary
from testsupport import sign_in
from tickets.models import QueueMember
from tickets.services import tickets as svc

TARGET_MS = 15.0
TARGET_QUERIES = 8
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
TEXT = (
    "The seam shows porosity after the nozzle change; 焊缝在更换喷嘴后出现气孔，"
    "argon at 15 l/min, wire feed 6.5 m/min. "
)


def _ticket(world, customer, unit, messages: int):
    ticket = svc.ticket_open(
        actor=customer,
        organisation=customer.organisation,
        requester=customer,
        subject=f"Porosity on the seam ({messages} messages)",
        body=TEXT * 3,
        unit=unit,
        tags=["porosity"],
        fault_report={"laser_power_w": 1500},
    )
    member = QueueMember.objects.filter(queue_id=ticket.queue_id, is_active=True).first()
    agent = member.agent if member else world.supervisor
    for n in range(1, messages):
        photo = [SimpleUploadedFile(f"seam {n}.png", PNG, content_type="image/png")]
        svc.ticket_reply(
            ticket=ticket,
            author=customer if n % 2 else agent,
            body=f"{n}. " + TEXT * (1 + n % 4),
            internal=n % 3 == 0 and n % 2 == 0,
            attachments=photo if n % 10 == 0 else [],
        )
    return ticket, agent


def _time(client: Client, url: str, extra: dict, requests: int) -> dict[str, Any]:
    for _ in range(3):
        client.get(url, secure=True, **extra)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, secure=True, **extra)
    n_queries = len(queries)
    walls, cpus = [], []
    for _ in range(requests):
        wall, cpu = time.perf_counter(), time.process_time()
        client.get(url, secure=True, **extra)
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    s = {"url": url, "status": response.status_code, "queries": n_queries}
    s |= summary(walls)
    s["cpu_median_ms"] = round(sorted(cpus)[len(cpus) // 2] * 1000, 2)
    if os.environ.get("BENCH_PROFILE") == "1":
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
        for _ in range(20):
            client.get(url, secure=True, **extra)
        profile.disable()
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        name = url.strip("/").replace("/", "_") or "root"
        profile.dump_stats(out / f"ticket_page-{name}.prof")
    s["met"] = (
        response.status_code == 200 and s["median_ms"] < TARGET_MS and n_queries <= TARGET_QUERIES
    )
    return s


def run(*, scale: float = 1.0) -> dict[str, Any]:
    return as_in_production(_run, scale=scale)


def _run(*, scale: float) -> dict[str, Any]:
    requests = int(os.environ.get("BENCH_PAGE_REQUESTS", "40"))
    rng = random.Random(20261207)
    print("  seeding: a small desk and two tickets (1 and 200 messages) ...", flush=True)
    world = ticket_data._build_world(scale=min(scale, 0.05), rng=rng, now=timezone.now())
    org = world.orgs[0]
    customer = world.customers[org.pk][0]
    unit = world.units[org.pk][0] if world.units.get(org.pk) else None
    _key, token = api_key_create(
        actor=world.supervisor, organisation=org, name="bench", scope=ApiScope.READ
    )
    results: dict[str, Any] = {"load_average_before": load_average(), "pages": {}}
    print(
        f"  {requests} requests each, in-process; targets {TARGET_MS} ms and "
        f"{TARGET_QUERIES} queries (audit sealing: {settings.AUDIT_SEALING})",
        flush=True,
    )
    for length in (1, 200):
        ticket, agent = _ticket(world, customer, unit, length)
        staff, portal = (
            sign_in(Client(SERVER_NAME="127.0.0.1"), agent),
            sign_in(Client(SERVER_NAME="127.0.0.1"), customer),
        )
        pages = {
            "staff ticket page": (
                staff,
                reverse("admin:tickets_ticket_change", args=[ticket.pk]),
                {},
            ),
            "portal ticket page": (
                portal,
                reverse("portal:ticket", args=[ticket.reference]),
                {},
            ),
            "API ticket detail": (
                Client(SERVER_NAME="127.0.0.1"),
                f"/api/v1/tickets/{ticket.reference}/",
                {"HTTP_AUTHORIZATION": f"Api-Key {token}"},
            ),
        }
        if length == 1:
            # Each page's floor (bench/floor/pages.py): the same sign-in, scope and base
            # template around the ticket's reference and subject, and nothing else.
            for name, (client, _url, extra) in list(pages.items()):
                kind = {"staff": "staff", "portal": "portal", "API": "api"}[name.split()[0]]
                key = ticket.pk if kind == "staff" else ticket.reference
                floor_url = reverse(f"bench-floor-{kind}", args=[key])
                pages[f"{name.split()[0]} page floor"] = (client, floor_url, extra)
        for name, (client, url, extra) in pages.items():
            s = _time(client, url, extra, requests)
            label = (
                name if "floor" in name else f"{name}, {length} message{'s' if length > 1 else ''}"
            )
            results["pages"][label] = s
            flag = "" if s["met"] or "floor" in name else "  ** over target or failed **"
            print(
                f"    {label:<36} {s['status']}  p50 {s['median_ms']:>6.1f} ms  "
                f"p95 {s['p95_ms']:>6.1f} ms  cpu {s['cpu_median_ms']:>6.1f} ms  "
                f"{s['queries']:>2} queries{flag}",
                flush=True,
            )
    results["load_average_after"] = load_average()
    return results
