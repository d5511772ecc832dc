"""The compliance officer's screens in Chromium, in Chinese on a phone and at desk width:
the audit screen (key, fingerprint, people named) and the records of processing, screen and
printable page (screenshots under var/browser/officer-zh/)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.test import Client

from audit.services import audit_record
from testsupport import browser_marks, sign_in

pytestmark = browser_marks()

SHOTS = Path(settings.BASE_DIR) / "var" / "browser" / "officer-zh"


def test_the_officer_reads_the_audit_screen_and_the_records_in_chinese(
    browser, live_server, make_staff, make_customer
):
    officer = make_staff(roles=("compliance_officer",), full_name="王芳")
    agent = make_staff(full_name="李娜")
    customer = make_customer(full_name="赵磊")
    audit_record(action="ticket.viewed", actor=agent, target=customer)
    audit_record(action="user.viewed", actor=officer, target=agent)
    client = Client()
    sign_in(client, officer)
    SHOTS.mkdir(parents=True, exist_ok=True)
    host = live_server.url.split("//")[1].split(":")[0]
    for width, name in ((1280, "desk"), (390, "phone")):
        context = browser.new_context(
            locale="zh-CN",
            extra_http_headers={"Accept-Language": "zh-hans"},
            viewport={"width": width, "height": 900},
        )
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "domain": host,
                    "path": "/",
                }
            ]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
        page.goto(f"{live_server.url}/admin/audit/auditevent/")
        assert page.locator(".key-fingerprint").is_visible()
        assert page.locator("#result_list").get_by_text("李娜").first.is_visible()
        page.screenshot(path=str(SHOTS / f"audit-{name}.png"), full_page=True)
        page.goto(f"{live_server.url}/admin/audit/auditevent/records-of-processing/")
        page.screenshot(path=str(SHOTS / f"records-{name}.png"), full_page=True)
        page.goto(f"{live_server.url}/admin/audit/auditevent/records-of-processing/?format=print")
        page.emulate_media(media="print")
        page.screenshot(path=str(SHOTS / f"records-print-{name}.png"), full_page=True)
        if name == "desk":
            page.pdf(path=str(SHOTS / "records.pdf"), format="A4")
        assert [e for e in errors if "/ws/" not in e] == []
        context.close()
