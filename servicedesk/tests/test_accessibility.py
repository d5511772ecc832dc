"""Accessibility in a real browser: axe-core's WCAG 2.1 A/AA rules on every page, and a focus
indicator that is seen (solid, at least 3:1 against what is behind it, kept in forced colours).

The desk is seeded with the demo data (seed_demo and each app's seeder) plus a chat, an incident
and a rating, so lists and change pages have rows. Staff sign in with the second factor like
people do; the workspace is walked as an agent, a supervisor, a compliance officer and an
administrator (the last one reaches every registered ModelAdmin), in English and Chinese at
1,280 px; the customer's pages in both languages at 1,280 px and 390 px. The pages walked are
found by servicedesk/tests/a11y_pages.py. A failure prints one line per element: page, rule,
impact, selector, what is wrong. Screenshots of focused elements go to var/browser/a11y/.
"""

from __future__ import annotations

import os
import re
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Error as PlaywrightError

from servicedesk.tests import a11y_pages
from testsupport import browser_marks, current_code

SHOTS = Path(settings.VAR_DIR) / "browser" / "a11y"
DEMO_PASSWORD = "WeldDesk-demo-2026"  # accounts.demo.DEMO_PASSWORD
STAFF = {
    "agent": "daniel.wu@welddesk.example",
    "supervisor": "zhang.wei@welddesk.example",
    "compliance officer": "sarah.lin@welddesk.example",
    "administrator": "admin@welddesk.example",
}
CUSTOMER = "wang.jianguo@hengrui-weld.example"  # has a P1 ticket, machines, a shipment
RATER = "zhao.lei@beichen-heavy.example"  # has a resolved ticket to rate
LOCALES = {"en": "en-GB", "zh-hans": "zh-CN"}
# The axe contexts bypass the pages' Content Security Policy: it (rightly) refuses the injected
# axe script. Only the test's own script gains from it; the pages are not changed.


def _axe_installed() -> bool:
    return a11y_pages.AXE_JS.exists()


pytestmark = [
    *browser_marks(),
    pytest.mark.skipif(
        not _axe_installed(),
        reason="no axe-core: npm ci --prefix tools/axe (the CI script installs it)",
    ),
]


# The walks take minutes and what they check (markup, CSS) does not depend on the database:
# CI runs them in its embedded-defaults pass (SQLite), not again on PostgreSQL, unless asked.
walk_once = pytest.mark.skipif(
    "sqlite" not in settings.DATABASES["default"]["ENGINE"]
    and os.environ.get("A11Y_EVERY_DATABASE", "") != "1",
    reason="the axe walks run on the embedded defaults (A11Y_EVERY_DATABASE=1 runs them here)",
)


# --- the seeded desk -------------------------------------------------------------------------


@pytest.fixture
def desk(settings):
    """The demo desk, plus what the demo seeders leave empty: a chat (with the bot's answers),
    an incident, a rating."""
    from accounts.selectors import user_by_email
    from chat import services as chat
    from status import services as status
    from status.models import Component, Severity
    from tickets.models import Status, Ticket
    from tickets.services import surveys

    settings.DEBUG = True  # seed_demo refuses to run without it (published passwords)
    call_command("seed_demo", stdout=StringIO())
    settings.DEBUG = False
    customer = user_by_email(CUSTOMER)
    conversation = chat.conversation_open(customer=customer)
    chat.message_post(
        conversation=conversation, sender=customer, body="焊机报警 E30", client_id="a11y-1"
    )
    # The bot's answers list links under their text (articles, a ticket, a shipment).
    from chat import bot

    bot.answer(conversation=conversation, text="焊机报警 E30")
    mine = Ticket.objects.filter(requester=customer).order_by("pk").first()
    if mine is not None:
        bot.answer(conversation=conversation, text=f"工单{mine.reference}的进度怎么样？")
    bot.answer(conversation=conversation, text="我的配件到哪了？")
    kinds = {link["kind"] for m in conversation.messages.all() for link in m.links}
    assert "tickets" in kinds, kinds  # the walk sees the links the bot lists
    component = Component.objects.order_by("pk").first()
    status.incident_open(
        actor="system:test",
        severity=Severity.objects.order_by("pk").first(),
        title_en="Chat answers delayed",
        title_zh="在线客服回复延迟",
        components={component: "degraded"},
        body_en="We are looking into it.",
        body_zh="我们正在调查。",
    )
    rater = user_by_email(RATER)
    resolved = Ticket.objects.filter(requester=rater, status=Status.RESOLVED).first()
    if resolved is not None and surveys.survey_open_for(resolved) is not None:
        surveys.survey_answer_signed_in(ticket=resolved, user=rater, rating=4, comment="快")
    return customer


def _set_language(email: str, language: str) -> None:
    from accounts.models import User
    from accounts.selectors import user_by_email

    User.objects.filter(pk=user_by_email(email).pk).update(language=language)


def _sign_in(page, base: str, email: str, *, check=None) -> None:
    """Through the sign-in form, and the second factor for staff (both pages are checked)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.selectors import user_by_email

    page.goto(f"{base}{reverse('accounts:login')}")
    page.fill("#id_email", email)
    page.fill("#id_password", DEMO_PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    user = user_by_email(email)
    if user.is_staff:
        if check:
            check("second factor")
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        page.fill("#id_token", current_code(device))
        with page.expect_navigation():
            page.locator("main form button[type=submit]").first.click()


class Walk:
    """Visits pages, runs axe on each and collects the violations."""

    def __init__(self, page, base: str, tag: str):
        self.page, self.base, self.tag = page, base, tag
        self.problems: list[str] = []
        self.seen: set[str] = set()
        self.walked: list[str] = []

    def check(self, label: str) -> None:
        where = f"[{self.tag}] {label} {self.page.url.removeprefix(self.base)}"
        self.problems += a11y_pages.describe(where, a11y_pages.run_axe(self.page))
        self.walked.append(label)

    def visit(self, label: str, url: str, *, again: bool = False, status: int = 200) -> bool:
        """Open a page and check it; False when it is not an HTML page with that status
        (a redirect, a download, a refusal for this role)."""
        if url in self.seen and not again:
            return False
        # Redirects are followed (a reset link moves its token into the session first).
        probe = self.page.request.get(f"{self.base}{url}")
        kind = probe.headers.get("content-type", "")
        if probe.status == 403 and status == 200 and "error 403" not in self.seen:
            # A page this role may not open: the 403 page, checked once.
            self.seen.add("error 403")
            self.page.goto(f"{self.base}{url}")
            self.check("error 403")
            return False
        if probe.status != status or not kind.startswith("text/html"):
            return False
        self.page.goto(f"{self.base}{url}")
        landed = self.page.url.removeprefix(self.base)
        if landed != url and landed in self.seen:
            return False
        self.seen.update({url, landed})
        self.check(label)
        return True


# --- the workspace -----------------------------------------------------------------------------


def _walk_admin(walk: Walk) -> None:
    page = walk.page
    for label, url in a11y_pages.admin_page_urls():
        if not walk.visit(label, url, again=url == reverse("admin:index")):
            continue
        if not label.endswith(" list"):
            continue
        # The change page of the first row the role may see.
        row = page.locator("#result_list tbody tr a[href*='/change/']").first
        if row.count():
            href = row.get_attribute("href")
            walk.visit(label.replace(" list", " change"), href.split("?")[0])


def _walk_actions(walk: Walk, label: str, url: str) -> None:
    """Each action of a changelist on its first row: the pages that ask before acting
    (forms, confirmations) are checked. Django's delete confirmation once is enough."""
    page = walk.page
    select = page.locator("select[name=action]")
    if not select.count() or not page.locator("#result_list tbody input.action-select").count():
        return
    names = [
        v
        for v in select.locator("option").evaluate_all("os => os.map(o => o.value)")
        if v and (v != "delete_selected" or "delete_selected" not in walk.seen)
    ]
    walk.seen.add("delete_selected")
    for name in names:
        page.goto(f"{walk.base}{url}")
        page.locator("#result_list tbody input.action-select").first.check()
        page.select_option("select[name=action]", name)
        try:
            with page.expect_navigation(timeout=15000):
                page.locator("#changelist-form button[name=index]").click()
        except PlaywrightError as exc:  # a download (an export), not a page
            print(f"axe: {label} action {name} is not a page: {exc}")  # noqa: T201
            continue
        if not page.locator("#changelist-form").count():
            walk.check(f"{label} action {name}")


@walk_once
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_workspace_page_passes_axe(language, browser, live_server, desk):
    """Every page staff use, walked as each role: no WCAG 2.1 A/AA violation."""
    base = live_server.url
    problems: list[str] = []
    walked = 0
    seen: set[str] = set()
    for n, (role, email) in enumerate(STAFF.items()):
        _set_language(email, language)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale=LOCALES[language], bypass_csp=True
        )
        walk = Walk(context.new_page(), base, f"{language} {role}")
        walk.seen = seen  # each page once per language, the index once per role
        if n == 0:
            walk.page.goto(f"{base}{reverse('accounts:login')}")
            walk.check("sign in")
        _sign_in(walk.page, base, email, check=walk.check if n == 0 else None)
        _walk_admin(walk)
        if role == "administrator":
            # Last, as they change data: every list's actions, on its first row.
            for label, url in a11y_pages.admin_page_urls():
                if label.endswith(" list"):
                    walk.page.goto(f"{base}{url}")
                    _walk_actions(walk, label, url)
        problems += walk.problems
        walked += len(walk.walked)
        print(f"axe: {role} walked {walk.walked}")  # noqa: T201
        context.close()
    print(f"axe: {walked} workspace pages walked in {language}")  # noqa: T201
    assert walked > 60, f"only {walked} pages walked: the walk lost its way"
    assert not problems, "\n" + "\n".join(problems)


# --- the portal --------------------------------------------------------------------------------


@walk_once
@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_portal_page_passes_axe(language, width, browser, live_server, desk):
    """Every customer page, signed out and signed in, on a desktop and a phone."""
    base = live_server.url
    customer = desk
    _set_language(CUSTOMER, language)
    context = browser.new_context(
        viewport={"width": width, "height": 844}, locale=LOCALES[language], bypass_csp=True
    )
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base}])
    walk = Walk(context.new_page(), base, f"{language} {width}px")
    for label, url in a11y_pages.anonymous_urls(customer):
        status = 404 if label.startswith("error") else 200
        assert walk.visit(label, url, status=status), f"{label} ({url}) is not a page"
    urls, missing = a11y_pages.customer_urls(customer)
    assert not missing, f"the seeded data has nothing for {missing}: seed it in the fixture"
    _sign_in(walk.page, base, CUSTOMER)
    walk.seen.clear()
    for label, url in urls:
        walk.visit(label, url)
    context.close()
    print(f"axe: {len(walk.walked)} portal pages walked in {language} at {width}px")  # noqa: T201
    assert len(walk.walked) > 15, walk.walked
    assert not walk.problems, "\n" + "\n".join(walk.problems)


@pytest.mark.django_db
def test_every_page_pattern_is_walked():
    """A new parameterised customer page needs a sample (or a reason to skip) in a11y_pages."""
    unknown = [
        p.key
        for p in a11y_pages.patterns()
        if p.params and p.key not in a11y_pages.SAMPLES and p.key not in a11y_pages.SKIP_PATTERNS
    ]
    assert not unknown, f"add these to a11y_pages.SAMPLES or SKIP_PATTERNS: {unknown}"


# --- the focus indicator -----------------------------------------------------------------------

FOCUS_JS = """() => {
    const parse = (c) => {
        const m = c.match(/rgba?\\(([^)]+)\\)/);
        if (!m) return null;
        const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
        return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
    };
    const over = (top, bottom) => ({
        r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a),
        b: top.b * top.a + bottom.b * (1 - top.a), a: 1});
    const paint = (start) => {
        // The colour painted at an element: its own background over its ancestors'.
        const layers = [];
        for (let n = start; n; n = n.parentElement) {
            const c = parse(getComputedStyle(n).backgroundColor);
            if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
        }
        let colour = {r: 255, g: 255, b: 255, a: 1};
        for (const layer of layers.reverse()) colour = over(layer, colour);
        return colour;
    };
    const behind = (el, s, r) => {
        // What is under the outline itself: it is drawn outline-offset + width/2 outside the
        // border box (inside it when negative), so sample there, left of and above the element,
        // skipping the element and what it contains (a skip link floats over a dark bar).
        const d = (parseFloat(s.outlineOffset) || 0) + (parseFloat(s.outlineWidth) || 0) / 2;
        if (d <= 0) return [paint(el)];
        const points = [[r.left - d, r.top + r.height / 2], [r.left + r.width / 2, r.top - d]];
        return points.map(([x, y]) => {
            const under = document.elementsFromPoint(x, y).find(n => n !== el && !el.contains(n));
            return paint(under || el.parentElement);
        });
    };
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return {
        tag: el.tagName.toLowerCase(), id: el.id, cls: el.className && String(el.className),
        text: (el.innerText || el.value || el.name || '').trim().slice(0, 30),
        style: s.outlineStyle, width: parseFloat(s.outlineWidth), colour: parse(s.outlineColor),
        raw: s.outlineColor, behind: behind(el, s, r),
        box: {x: r.x, y: r.y, width: r.width, height: r.height},
    };
}"""


def _luminance(c: dict) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c["r"]) + 0.7152 * channel(c["g"]) + 0.0722 * channel(c["b"])


def contrast(a: dict, b: dict) -> float:
    light, dark = sorted([_luminance(a), _luminance(b)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_ratio_is_wcags():
    white, black = {"r": 255, "g": 255, "b": 255}, {"r": 0, "g": 0, "b": 0}
    assert round(contrast(white, black), 1) == 21.0
    assert round(contrast({"r": 0x76, "g": 0x76, "b": 0x76}, white), 2) == 4.54


def _tab_through(page, stops: int) -> list[dict]:
    found = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        info = page.evaluate(FOCUS_JS)
        if info:
            found.append(info)
    return found


def _shot(page, info: dict, name: str) -> None:
    box = info["box"]
    clip = {
        "x": max(box["x"] - 60, 0),
        "y": max(box["y"] - 40, 0),
        "width": box["width"] + 120,
        "height": box["height"] + 80,
    }
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), clip=clip)
    print(f"screenshot: {path}")  # noqa: T201


def _assert_focus_seen(stops: list[dict], where: str) -> list[str]:
    problems = []
    for info in stops:
        label = f"{where}: <{info['tag']} id={info['id']!r} class={info['cls']!r}> {info['text']!r}"
        if info["style"] != "solid" or info["width"] < 2 or info["colour"] is None:
            problems.append(f"{label}: outline {info['style']} {info['width']}px {info['raw']}")
            continue
        ratio, under = min((contrast(info["colour"], b), b) for b in info["behind"])
        if ratio < 3:
            problems.append(f"{label}: outline {info['raw']} on {under} is {ratio:.2f}:1")
    return problems


def _focus_pages(base: str) -> list[tuple[str, str, str | None]]:
    return [
        ("workspace-list", f"{base}{reverse('admin:tickets_ticket_changelist')}", STAFF["agent"]),
        ("workspace-index", f"{base}{reverse('admin:index')}", STAFF["agent"]),
        ("portal-home", f"{base}{reverse('portal:home')}", CUSTOMER),
        ("portal-new", f"{base}{reverse('portal:ticket_new')}", CUSTOMER),
        ("sign-in", f"{base}{reverse('accounts:login')}", None),
    ]


def test_focus_is_solid_and_contrasted_on_light_and_dark(browser, live_server, desk):
    """Tab through pages of the workspace and the portal: every focused element shows a solid
    outline of at least 2px and 3:1 against what is behind it, on the dark bars too."""
    base = live_server.url
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    problems, dark, light = [], 0, 0
    for name, url, email in _focus_pages(base):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        if email:
            _sign_in(page, base, email)
        page.goto(url)
        stops = _tab_through(page, 30)
        assert stops, f"{name}: nothing takes the focus"
        problems += _assert_focus_seen(stops, name)
        # A dark bar (the admin's header, breadcrumbs and captions, the portal's top bar).
        on_dark = [s for s in stops if min(map(_luminance, s["behind"])) < 0.2]
        on_light = [s for s in stops if min(map(_luminance, s["behind"])) >= 0.2]
        dark += len(on_dark)
        light += len(on_light)
        # Screenshots of one focused element on each background, looked at by a person.
        for kind, group in (("dark", on_dark), ("light", on_light)):
            if group:
                page.goto(url)
                for _ in range(stops.index(group[len(group) // 2]) + 1):
                    page.keyboard.press("Tab")
                _shot(page, page.evaluate(FOCUS_JS), f"{name}-{kind}")
        context.close()
    assert dark >= 4 and light >= 20, (dark, light)
    assert not problems, "\n" + "\n".join(problems)


def test_focus_stays_visible_in_forced_colours(browser, live_server, desk):
    """High-contrast mode drops box-shadows and forces colours: the outline must remain."""
    base = live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for name, url, email in _focus_pages(base):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.emulate_media(forced_colors="active")
        assert page.evaluate("matchMedia('(forced-colors: active)').matches")
        if email:
            _sign_in(page, base, email)
        page.goto(url)
        stops = _tab_through(page, 20)
        for info in stops:
            if info["style"] in ("none", "hidden") or info["width"] < 2:
                problems.append(
                    f"{name} forced colours: <{info['tag']} id={info['id']!r}> {info['text']!r}: "
                    f"outline {info['style']} {info['width']}px"
                )
        page.goto(url)
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        info = page.evaluate(FOCUS_JS)
        if info:
            _shot(page, info, f"{name}-forced-colours")
        context.close()
    assert not problems, "\n" + "\n".join(problems)


def test_axe_is_not_shipped():
    """axe-core is a test tool: no template or static file loads it."""
    roots = [Path(settings.BASE_DIR) / "templates", Path(settings.BASE_DIR) / "static"]
    hits = [
        str(path)
        for root in roots
        for path in root.rglob("*")
        if path.is_file() and (re.search(r"axe", path.name) or b"axe.min.js" in path.read_bytes())
    ]
    assert not hits, hits
