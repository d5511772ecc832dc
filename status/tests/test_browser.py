"""The public status page in a real browser, in English and Chinese, on a phone and a desktop.

An outage is declared; the page shows it with its cause, expected recovery and the affected
hotline, the uptime bars, and the link to the feed; no JavaScript error, no failed request,
nothing wider than the screen. Screenshots go to var/browser/status/.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from status import services
from testsupport import browser_marks, watched_page

SHOTS = Path(settings.VAR_DIR) / "browser" / "status"

pytestmark = browser_marks()


@pytest.mark.parametrize(
    ("language", "viewport", "expect"),
    [
        (
            "en",
            {"width": 390, "height": 844},
            ["Hotline East unreachable", "Major outage", "posted at"],
        ),
        (
            "zh-hans",
            {"width": 1280, "height": 900},
            ["华东热线无法接通", "重大中断", "运营商中继故障"],
        ),
        ("zh-hans", {"width": 390, "height": 844}, ["华东热线无法接通", "重大中断"]),
    ],
)
def test_the_status_page_shows_an_outage(
    browser, live_server, components, sev, language, viewport, expect
):
    east = components["east"]
    east.created_at = timezone.now() - dt.timedelta(days=120)
    east.save(update_fields=["created_at"])
    # An old outage of five hours, declared with the time it began and resolved at its end;
    # from 09:00 in the desk's time zone, so its day is one bar whatever the hour of the run.
    began = timezone.localtime(timezone.now() - dt.timedelta(days=10)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    old = services.incident_open(
        actor="system:test",
        severity=sev["sev2"],
        title_en="Old trunk failure",
        title_zh="旧的中继故障",
        components={east: "partial_outage"},
        body_en="Down",
        body_zh="中断",
        started_at=began,
    )
    services.incident_update(
        incident=old,
        actor="system:test",
        state="resolved",
        body_en="Back",
        body_zh="恢复",
        at=old.started_at + dt.timedelta(hours=5),
    )
    # The chat is three days old: the days before it have no data.
    chat = components["chat"]
    chat.created_at = timezone.now() - dt.timedelta(days=3)
    chat.save(update_fields=["created_at"])
    services.incident_open(
        actor="system:test",
        severity=sev["sev2"],
        title_en="Hotline East unreachable",
        title_zh="华东热线无法接通",
        components={east: "major_outage"},
        body_en="Please use the chat or the portal meanwhile.",
        body_zh="请暂时使用在线客服或客户门户。",
        cause_en="Carrier trunk failure",
        cause_zh="运营商中继故障",
        expected_recovery=timezone.now() + dt.timedelta(hours=2),
        started_at=timezone.now() - dt.timedelta(hours=2),  # noticed late: dated back
    )
    from status.selectors import forget_summary

    forget_summary()  # the test's transaction never commits, so drop the cache by hand
    shots = SHOTS / f"{language}-{viewport['width']}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    context, page, errors = watched_page(browser, viewport=viewport, locale=language)
    page.goto(f"{live_server.url}/status/")
    text = page.inner_text("main")
    for wanted in expect:
        assert wanted in text, wanted
    assert page.locator(".bars").count() == 3
    assert page.locator(".bar-partial_outage").count() == 1  # the day of the old outage
    zh = language != "en"
    chat_bars = page.locator(".component").filter(has_text="在线客服" if zh else "Online chat")
    assert chat_bars.locator(".bar-none").count() >= 86  # before the chat existed: no data
    # The exact minutes: on hover (the bar's title) and on a tap or a key press (the summary).
    outage_bar = page.locator(".bar-partial_outage")
    assert "300" in outage_bar.get_attribute("title")
    east_item = page.locator(".component").filter(has_text="华东热线" if zh else "Hotline East")
    east_item.locator("summary").focus()
    page.keyboard.press("Enter")
    impacts = east_item.locator("details[open] .impacts").inner_text()
    assert "300" in impacts, impacts
    assert page.locator("link[type='application/atom+xml']").count() == 1
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page is {wide}px wider than the screen"
    path = shots / "status-page.png"  # with the east line's impacts open
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")  # noqa: T201
    _axe_with_the_impacts_open(browser, live_server, viewport, language)
    page.get_by_role("link", name=expect[0]).click()
    page.wait_for_load_state()
    assert expect[0] in page.inner_text("h1")
    page.screenshot(path=str(shots / "incident.png"), full_page=True)
    assert not [e for e in errors if "favicon" not in e], errors
    context.close()


def _axe_with_the_impacts_open(browser, live_server, viewport, language) -> None:
    """axe-core's WCAG 2.1 AA rules on the page with every list of impacts open (the walk in
    servicedesk/tests/test_accessibility.py sees them closed). Skipped without axe-core."""
    from servicedesk.tests import a11y_pages

    if not a11y_pages.AXE_JS.exists():
        return
    context = browser.new_context(viewport=viewport, locale=language, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/status/")
    page.eval_on_selector_all(".uptime-details", "ds => ds.forEach(d => { d.open = true; })")
    problems = a11y_pages.describe(f"[{language}] /status/", a11y_pages.run_axe(page))
    context.close()
    assert not problems, "\n" + "\n".join(problems)
