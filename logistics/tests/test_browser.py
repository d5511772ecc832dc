"""A customer on a phone, in Chinese, follows a spare part from the ticket to its timeline.

Screenshots go to var/browser/logistics/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from accounts import services as account_services
from logistics import services
from testsupport import browser_marks, browser_sign_in, watched_page

SHOTS = Path(settings.VAR_DIR) / "browser" / "logistics"

pytestmark = browser_marks()


def test_shipments_on_a_phone_in_chinese(
    browser, live_server, open_ticket, make_shipment, password
):
    ticket = open_ticket()
    customer = ticket.requester
    account_services.user_update_profile(user=customer, actor=customer, language="zh-hans")
    part = make_shipment(customer.organisation, tickets=[ticket], tickets_wait=True, hours_ago=20)
    services.track_one(shipment=part)
    stuck = make_shipment(customer.organisation, number="SBX-600001-EXC", hours_ago=35)
    services.track_one(shipment=stuck)
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    context, page, errors = watched_page(
        browser, viewport={"width": 390, "height": 844}, locale="zh-CN"
    )
    browser_sign_in(page, live_server.url, customer.email, password)
    page.get_by_role("link", name="货件", exact=True).click()
    page.wait_for_load_state()
    text = page.inner_text("main")
    for wanted in ("运输中", "派送异常", part.tracking_number, "SBX-600001-EXC"):
        assert wanted in text, wanted
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page is {wide}px wider than the screen"
    page.screenshot(path=str(SHOTS / "shipments.png"), full_page=True)
    page.get_by_role("link", name=part.tracking_number).click()
    page.wait_for_load_state()
    detail = page.inner_text("main")
    assert "已揽收" in detail and "Suzhou hub" in detail and ticket.reference in detail
    page.screenshot(path=str(SHOTS / "shipment.png"), full_page=True)
    assert not [e for e in errors if "favicon" not in e], errors
    context.close()
