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
from status.models import ComponentStatusChange
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
    ],
)
def test_the_status_page_shows_an_outage(
    browser, live_server, components, sev, language, viewport, expect
):
    east = components["east"]
    east.created_at = timezone.now() - dt.timedelta(days=120)
    east.save(update_fields=["created_at"])
    ComponentStatusChange.objects.create(
        component=east,
        from_status="operational",
        to_status="partial_outage",
        at=timezone.now() - dt.timedelta(days=10),
        changed_by="system:test",
    )
    ComponentStatusChange.objects.create(
        component=east,
        from_status="partial_outage",
        to_status="operational",
        at=timezone.now() - dt.timedelta(days=10) + dt.timedelta(hours=5),
        changed_by="system:test",
    )
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
    shots = SHOTS / language
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    context, page, errors = watched_page(browser, viewport=viewport, locale=language)
    page.goto(f"{live_server.url}/status/")
    text = page.inner_text("main")
    for wanted in expect:
        assert wanted in text, wanted
    assert page.locator(".bars").count() == 3
    assert page.locator(".bar-partial_outage").count() == 1  # the day of the old outage
    assert page.locator("link[type='application/atom+xml']").count() == 1
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page is {wide}px wider than the screen"
    path = shots / "status-page.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")  # noqa: T201
    page.get_by_role("link", name=expect[0]).click()
    page.wait_for_load_state()
    assert expect[0] in page.inner_text("h1")
    page.screenshot(path=str(shots / "incident.png"), full_page=True)
    assert not [e for e in errors if "favicon" not in e], errors
    context.close()
