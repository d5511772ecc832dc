"""Workspace benchmark: an agent triages and answers new tickets in a real browser.

Playwright drives Debian's Chromium (headless) against a Daphne server on loopback, in
production mode against the benchmark's scratch database. For each of TICKETS new,
unassigned tickets the agent opens the list of new unassigned tickets, opens the top one,
reads it, assigns it to themself, answers with a canned response and resolves it. Three ways:

- keyboard: j and Enter on the list, a (assign to me), r, `::` + "gas" + Enter (the canned
  picker), Ctrl+Enter (send), e (resolve) -- static/tickets/keys.js;
- keyboard, assign on reply: the same without a, since the reply assigns an unassigned ticket
  to the replier (Queue.assign_on_reply);
- forms (the baseline): JavaScript off, the stock way: click the reference, choose yourself in
  the assignee select and press Assign, choose the canned response in its select and press
  Send, choose Resolved and press Change status -- one page load per action.

Per ticket it counts the HTTP requests and the bytes received (Chrome's own count through the
DevTools protocol: headers and bodies as they came over the wire) and the milliseconds from
opening the list to the resolved ticket's page; it prints the table and checks in the
database that every ticket was answered, assigned and resolved. A fresh browser context per
way, so each starts with a cold cache. Each step has a timeout: the run stops by itself.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

ROOT = Path(__file__).resolve().parent.parent
TICKETS = int(os.environ.get("BENCH_WORKSPACE_TICKETS", "20"))
STEP_TIMEOUT_MS = 30_000
LIST = "/admin/tickets/ticket/?assigned=unassigned&status__exact=new&queue__id__exact={queue}"
GAS = (
    "Dear {requester_name}, please check the shielding gas first: argon at 15-20 l/min, "
    "the nozzle clean and the hose without leaks. Ticket {reference}."
)
WAYS = ["keyboard", "keyboard, assign on reply", "forms (JS off, baseline)"]


def _session(user: Any, device: TOTPDevice) -> str:
    """A signed-in, second-factor-verified session (the sign-in itself is not measured)."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[DEVICE_ID_SESSION_KEY] = device.persistent_id
    store.create()
    return store.session_key


def seed(per_way: int) -> tuple[Any, str, dict[str, int]]:
    """An agent, two canned responses, and per way a queue with `per_way` new tickets from
    different customers: each way starts from the same list (its queue's), so the list
    pages it loads are the same size.

    The agent is a member of every queue but takes no automatic assignments, so the tickets
    stay unassigned until the agent takes them."""
    from accounts.models import Region
    from accounts.services import organisation_create, user_create
    from tickets.defaults import ensure_calendar, ensure_policies
    from tickets.models import CannedResponse, Queue, QueueMember
    from tickets.services.tickets import ticket_open, ticket_update

    ensure_policies(ensure_calendar(import_holidays=False))
    region = Region.objects.get(code="east")
    agent = user_create(
        email="bench.agent@welddesk.example",
        full_name="Bench Agent",
        is_staff=True,
        roles=("agent",),
        regions=[region],
        language="en",
        check_password=False,
    )
    device = TOTPDevice.objects.create(user=agent, name="bench", confirmed=True)
    CannedResponse.objects.create(title="Shielding gas check", body_en=GAS, body_zh=GAS)
    CannedResponse.objects.create(
        title="Protective lens",
        body_en="Please replace the protective lens.",
        body_zh="请更换保护镜片。",
    )
    org = organisation_create(actor="system:bench", name="Bench Welding Works", region=region)
    queues = {}
    for w, way in enumerate(WAYS):
        queue = Queue.objects.create(name=f"Bench {w}", slug=f"bench-{w}", region=region)
        QueueMember.objects.create(queue=queue, agent=agent, is_active=False)
        queues[way] = queue.pk
        for n in range(per_way):
            customer = user_create(
                email=f"customer{w}.{n}@bench.example",
                full_name=f"Customer {w}.{n}",
                organisation=org,
                language="en",
                check_password=False,
            )
            ticket = ticket_open(
                actor=customer,
                organisation=org,
                requester=customer,
                subject=f"Porosity in the seams of line {n}",
                body="Since this morning every seam shows pores. " * 5,
                priority=2 + n % 2,
            )
            ticket_update(ticket=ticket, actor="system:bench", queue=queue)
    return agent, _session(agent, device), queues


class Meter:
    """Requests and received bytes of one page, from the DevTools protocol's network events.

    A request answered from the browser's cache is no request to the server: it is counted
    apart (`cached`), and its bytes are zero.
    """

    def __init__(self, context, page) -> None:
        self.requests = 0
        self.documents = 0
        self.cached = 0
        self.bytes = 0
        self.urls: list[str] = []
        self._cached_ids: set[str] = set()
        cdp = context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self._request)
        cdp.on("Network.requestServedFromCache", self._from_cache)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.send("Network.enable")

    def _request(self, event: dict) -> None:
        self.requests += 1
        self.documents += event.get("type") == "Document"
        self.urls.append(event["request"]["method"] + " " + event["request"]["url"])
        redirect = event.get("redirectResponse")
        if redirect:  # the 302 of a POST: its bytes are counted here, not in loadingFinished
            self.bytes += int(redirect.get("encodedDataLength") or 0)

    def _cache_hit(self, request_id: str) -> None:
        # Chrome may say so twice (served from cache, then a response from the disk cache).
        if request_id not in self._cached_ids:
            self._cached_ids.add(request_id)
            self.cached += 1

    def _from_cache(self, event: dict) -> None:
        self._cache_hit(event["requestId"])

    def _response(self, event: dict) -> None:
        response = event["response"]
        if response.get("fromDiskCache") or response.get("fromPrefetchCache"):
            self._cache_hit(event["requestId"])

    def _finished(self, event: dict) -> None:
        if event["requestId"] not in self._cached_ids:  # Chrome reports a disk hit's size
            self.bytes += int(event.get("encodedDataLength") or 0)

    def read(self) -> tuple[int, int, int]:
        """Requests that reached the server, page loads (POSTs and redirects included) and
        the bytes received."""
        return self.requests - self.cached, self.documents, self.bytes


def _keyboard(page, url: str, *, assign: bool) -> None:
    page.goto(url)
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator(".conversation .msg-customer").first.wait_for()  # read
    if assign:
        with page.expect_navigation():
            page.keyboard.press("a")
    page.keyboard.press("r")
    page.keyboard.type("::")
    page.keyboard.type("gas")
    page.keyboard.press("Enter")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    with page.expect_navigation():
        page.keyboard.press("e")


def _forms(page, url: str, agent_pk: int) -> None:
    page.goto(url)
    with page.expect_navigation():
        page.locator("#result_list tbody tr th a").first.click()
    page.locator(".conversation .msg-customer").first.wait_for()  # read
    assign = page.locator("form.side-form:has(select[name=assignee])")
    assign.locator("select[name=assignee]").select_option(str(agent_pk))
    with page.expect_navigation():
        assign.locator("input[type=submit]").click()
    page.locator("#reply-box select[name=canned]").select_option(label="Shielding gas check")
    with page.expect_navigation():
        page.locator("#reply-box input[type=submit]").click()
    status = page.locator("form.side-form:has(select[name=status])")
    status.locator("select[name=status]").select_option("resolved")
    with page.expect_navigation():
        status.locator("input[type=submit]").click()


ACCESS = re.compile(r"welddesk\.access \[\w*\] [A-Z]+ \S+ \d{3} ([\d.]+)ms")


def _server_ms(log: Path, offset: int) -> float:
    """The server's own time (its access log) for the requests logged after `offset`."""
    with open(log, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", "replace")
    return sum(float(ms) for ms in ACCESS.findall(text))


def _drive(
    browser, base: str, session: str, way: str, agent_pk: int, queue: int, log: Path
) -> dict[str, Any]:
    from tickets.models import Ticket

    offset = log.stat().st_size

    context = browser.new_context(
        java_script_enabled=not way.startswith("forms"),
        viewport={"width": 1280, "height": 900},
    )
    context.add_cookies([{"name": "sessionid", "value": session, "url": base}])
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    meter = Meter(context, page)
    rows = []
    started = time.perf_counter()
    for _ in range(TICKETS):
        before = meter.read()
        t0 = time.perf_counter()
        url = base + LIST.format(queue=queue)
        if way == "keyboard":
            _keyboard(page, url, assign=True)
        elif way == "keyboard, assign on reply":
            _keyboard(page, url, assign=False)
        else:
            _forms(page, url, agent_pk)
        elapsed = time.perf_counter() - t0
        page.evaluate("1")  # let the last network events arrive
        after = meter.read()
        ref = page.locator("h1").inner_text().split(" ")[0]
        rows.append(
            {
                "ticket": ref,
                "ms": round(elapsed * 1000, 1),
                "requests": after[0] - before[0],
                "documents": after[1] - before[1],
                "bytes": after[2] - before[2],
            }
        )
    total = time.perf_counter() - started
    if os.environ.get("BENCH_WORKSPACE_URLS"):
        print("\n".join(meter.urls))
    context.close()
    if errors:
        raise RuntimeError(f"{way}: the browser saw errors: {errors[:5]}")
    done = Ticket.objects.filter(reference__in=[r["ticket"] for r in rows])
    wrong = [
        t.reference
        for t in done.prefetch_related("messages")
        if t.status != "resolved"
        or t.assignee_id != agent_pk
        or not any("shielding gas" in m.body for m in t.messages.all() if m.author_id)
    ]
    if len(set(r["ticket"] for r in rows)) != TICKETS or wrong:
        raise RuntimeError(f"{way}: tickets not handled as scripted: {wrong or rows}")
    summary = _summary(rows, total)
    summary["server_ms_per_ticket"] = round(_server_ms(log, offset) / len(rows), 1)
    return summary


def _summary(rows: list[dict[str, Any]], total: float) -> dict[str, Any]:
    ms = [r["ms"] for r in rows]
    warm = rows[1:] or rows  # the first ticket also fetches the static files
    return {
        "tickets": len(rows),
        "total_s": round(total, 2),
        "ms_per_ticket_mean": round(statistics.mean(ms), 1),
        "ms_per_ticket_median": round(statistics.median(ms), 1),
        "documents_per_ticket": round(statistics.mean(r["documents"] for r in rows), 2),
        "requests_per_ticket": round(statistics.mean(r["requests"] for r in rows), 2),
        "requests_per_ticket_warm": round(statistics.mean(r["requests"] for r in warm), 2),
        "kb_per_ticket": round(statistics.mean(r["bytes"] for r in rows) / 1024, 1),
        "kb_per_ticket_warm": round(statistics.mean(r["bytes"] for r in warm) / 1024, 1),
        "first_ticket": rows[0],
    }


def _table(results: dict[str, Any]) -> None:
    head = (
        f"    {'way':<28} {'total s':>8} {'ms/ticket':>10} {'median':>8} {'documents':>9} "
        f"{'requests':>9} {'warm':>6} {'KB':>8} {'warm KB':>8} {'server ms':>10}"
    )
    print(head)
    for way in WAYS:
        r = results.get(way)
        if not r:
            continue
        print(
            f"    {way:<28} {r['total_s']:>8.1f} {r['ms_per_ticket_mean']:>10.0f} "
            f"{r['ms_per_ticket_median']:>8.0f} {r['documents_per_ticket']:>9.1f} "
            f"{r['requests_per_ticket']:>9.1f} "
            f"{r['requests_per_ticket_warm']:>6.1f} {r['kb_per_ticket']:>8.1f} "
            f"{r['kb_per_ticket_warm']:>8.1f} {r['server_ms_per_ticket']:>10.0f}"
        )


def _collect_static(var_dir: Path) -> None:
    """collectstatic with hashed names into the server's own var directory."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "WELDDESK_VAR_DIR": str(var_dir),
        "STATIC_MANIFEST": "1",
        "DEBUG": "1",
        "WELDDESK_STARTUP_CHECKS": "0",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )


def run(*, scale: float = 1.0) -> dict[str, Any]:
    from bench.loadgen import load_average
    from chat.tests.servers import daphne_servers
    from testsupport import CHROMIUM_ARGS, chromium

    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if executable is None or sync_playwright is None:
        print("  workspace: skipped (needs Playwright and /usr/bin/chromium)")
        return {"skipped": "no Chromium or Playwright"}
    agent, session, queues = seed(TICKETS)
    connections.close_all()
    # Playwright's sync API runs an event loop in this thread; the checks after each way are
    # plain synchronous ORM reads on their own connection.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    log_dir = Path(tempfile.mkdtemp(prefix="bench-workspace-"))
    print(f"  workspace: {TICKETS} tickets per way, Daphne log in {log_dir}")
    _collect_static(log_dir / "var")
    results: dict[str, Any] = {"tickets_per_way": TICKETS, "load_before": load_average()}
    with daphne_servers(
        1,
        log_dir,
        redis=bool(settings.REDIS_URL),
        app="bench.asgi:application",
        settings_module="bench.settings",
        debug=False,
        extra_env={
            # Production mode over plain HTTP on loopback: no TLS redirect or __Host- cookies
            # (nginx terminates TLS in production).
            "SECURE_COOKIES": "0",
            "SECURE_SSL_REDIRECT": "0",
            "BEHIND_TLS_PROXY": "0",
            "SECURE_HSTS_SECONDS": "0",
            # Hashed static files, cached for good, as in production (bytes per ticket would
            # otherwise count WhiteNoise's 60-second revalidations).
            "STATIC_MANIFEST": "1",
            "WHITENOISE_USE_FINDERS": "0",
            "CLAMD_ADDRESS": "off",
        },
    ) as ports:
        base = f"http://127.0.0.1:{ports[0]}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                for way in WAYS:
                    log = log_dir / f"daphne-{ports[0]}.log"
                    results[way] = _drive(browser, base, session, way, agent.pk, queues[way], log)
                    r = results[way]
                    print(f"    {way}: {r['total_s']} s, {r['ms_per_ticket_mean']} ms per ticket")
            finally:
                browser.close()
                connections.close_all()
    results["load_after"] = load_average()
    _table(results)
    print(f"    load average before / after: {results['load_before']} / {results['load_after']}")
    return results
