"""The Chinese workspace in a real browser at 1,280 px: the admin index, the ticket list, a
ticket and an incident, for a zh-Hans agent over the demo desk (issue 18, point 6).

Screenshots go to var/browser/admin-zh/ and are looked at; the test also asserts the pages
carry no English heading of the project's own (the page-by-page net is test_admin_zh.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.test import Client

from servicedesk.tests.test_admin_zh import seed_everything
from testsupport import browser_marks, sign_in, watched_page

pytestmark = browser_marks()

SHOTS = Path(settings.VAR_DIR) / "browser" / "admin-zh"


def test_the_workspace_reads_in_chinese(browser, live_server, make_staff):
    from status.models import Incident
    from tickets.models import Ticket

    agent = make_staff(
        roles=("agent", "supervisor"),
        email="zh.agent@welddesk.example",
        full_name="刘洋",
        language="zh-hans",
    )
    seed_everything(make_staff(roles=(), email="root.seed@welddesk.example", is_superuser=True))
    incident = Incident.objects.order_by("-pk").first()  # the demo's outage
    ticket = Ticket.objects.order_by("pk").first()

    client = sign_in(Client(), agent)
    context, page, errors = watched_page(
        browser, wsgi_server=True, viewport={"width": 1280, "height": 900}
    )
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    pages = [
        ("index", "/admin/"),
        ("ticket-list", "/admin/tickets/ticket/"),
        ("ticket", f"/admin/tickets/ticket/{ticket.pk}/change/"),
        ("incident", f"/admin/status/incident/{incident.pk}/change/"),
        ("severity", "/admin/status/severity/1/change/"),
    ]
    for n, (name, path) in enumerate(pages, start=1):
        page.goto(f"{live_server.url}{path}")
        assert page.locator("html").get_attribute("lang") == "zh-hans", path
        shot = SHOTS / f"{n:02d}-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")  # noqa: T201 (the test output lists the screenshots)
        text = page.locator("body").inner_text()
        for english in ("Service desk administration", "Accounts", "Notifications", "Tickets"):
            assert english not in text, f"{path}: {english!r}"
    assert errors == []
    context.close()
