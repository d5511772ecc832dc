"""The ticket list in a real browser at 1,280 and 1,920 px: readable subject and organisation.

Realistic rows (long Chinese and English subjects, long organisation names, every SLA
state); each width is screenshotted into var/browser/ticket-list/ (look at them) and the
subject and organisation cells are measured: no one-character-wide columns. Then "Next
ticket" is pressed and a view saved, without JavaScript help. Without Chromium the test skips.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from testsupport import PASSWORD, add_totp, browser_marks, current_code

# Per cell of a selector: its text and on how many lines the text is laid out.
LINES_OF_TEXT = """sel => Array.from(document.querySelectorAll(sel)).map(cell => {
  const tops = new Set();
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const rect of range.getClientRects()) if (rect.width > 0) tops.add(Math.round(rect.top));
  }
  return [cell.textContent.trim(), tops.size];
})"""
SHOTS = Path(settings.VAR_DIR) / "browser" / "ticket-list"

pytestmark = browser_marks()

SUBJECTS = [
    "焊缝出现大量气孔，不锈钢板材 3 mm，氩气纯度已确认 99.999%，更换喷嘴后问题依旧存在",
    "Porosity in stainless seams since the nozzle change, argon flow checked at 15 l/min",
    "激光器报警 E101：冷水机温度过高，设备自动停机，生产线停产等待处理",
    "Handheld head overheats after 20 minutes of continuous welding on 4 mm aluminium",
    "送丝机卡丝",
    "Protective lens cracked",
    "客户要求上门培训：新员工操作规范、安全防护及日常保养流程（共 12 人）",
    "Shipment of replacement collimator lens WD-parts-7781 delayed at customs in Ningbo",
]
ORGANISATIONS = [
    "江苏省苏州市工业园区精密激光焊接设备制造有限公司",
    "Ningbo Harbour Heavy Industry Stainless Fabrication Co., Ltd.",
    "上海宝钢金属",
    "ACME",
]

# Narrowest acceptable cells (CSS px): a subject shows a phrase, an organisation a name.
MIN_SUBJECT = {1280: 220, 1920: 380}
MIN_ORGANISATION = {1280: 120, 1920: 160}


def test_list_is_readable_at_1280_and_1920(
    browser, live_server, make_customer, make_org, open_ticket, queue_setup
):
    from django.contrib.auth.hashers import make_password

    from accounts.models import User
    from tickets.models import Status
    from tickets.services import tickets as svc

    _queue, supervisor, agents = queue_setup
    agent = agents[0]
    User.objects.filter(pk=agent.pk).update(password=make_password(PASSWORD))
    add_totp(agent)
    customers = [make_customer(make_org(name)) for name in ORGANISATIONS]
    now = timezone.now()
    for n in range(24):
        opened = now - timezone.timedelta(hours=n * 7) if n % 3 else None
        ticket = open_ticket(
            customers[n % len(customers)],
            priority=n % 4 + 1,
            subject=SUBJECTS[n % len(SUBJECTS)],
            now=opened,
        )
        if n % 6 == 1:
            svc.ticket_transition(ticket=ticket, status=Status.WAITING, actor=supervisor)
        elif n % 6 == 2:
            svc.ticket_assign(ticket=ticket, agent=None, actor=supervisor)
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)

    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_email", agent.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page.fill("#id_token", current_code(TOTPDevice.objects.get(user=agent)))
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()

    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1000})
        page.goto(f"{base}/admin/tickets/ticket/")
        page.locator("#result_list tbody tr[data-ticket]").first.wait_for()
        path = SHOTS / f"list-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")  # noqa: T201
        subjects = page.locator("#result_list td.field-subject")
        organisations = page.locator("#result_list td.field-organisation")
        assert subjects.count() == 24
        narrowest_subject = min(
            subjects.nth(i).bounding_box()["width"] for i in range(subjects.count())
        )
        narrowest_org = min(
            organisations.nth(i).bounding_box()["width"] for i in range(organisations.count())
        )
        assert narrowest_subject >= MIN_SUBJECT[width], (width, narrowest_subject)
        assert narrowest_org >= MIN_ORGANISATION[width], (width, narrowest_org)
        # Every column is in view: no sideways scrolling to reach the assignee.
        shown = page.locator("#changelist-form .results").bounding_box()
        last = page.locator("#result_list td.field-assignee_name").first.bounding_box()
        assert last["x"] + last["width"] <= shown["x"] + shown["width"] + 1, (width, last)
        # A row is a few lines at most, not a column of single characters.
        tallest = max(subjects.nth(i).bounding_box()["height"] for i in range(subjects.count()))
        assert tallest < 90, (width, tallest)

    # In Chinese, which has no spaces, the short columns must not break between characters
    # ("新/建"): a status is one line, a queue and a column title at most two.
    agent.language = "zh-hans"
    agent.save(update_fields=["language"])
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(f"{base}/admin/tickets/ticket/")
    page.locator("#result_list tbody tr[data-ticket]").first.wait_for()
    page.screenshot(path=str(SHOTS / "list-1280-zh.png"), full_page=True)
    for selector, most in (
        ("#result_list td.field-status", 1),
        ("#result_list td.field-queue", 2),
        ("#result_list thead th div.text", 2),
    ):
        lines = page.evaluate(LINES_OF_TEXT, selector)
        assert lines and all(n <= most for _text, n in lines), (selector, lines)
    agent.language = "en"
    agent.save(update_fields=["language"])

    # "Next ticket" takes the most urgent unassigned ticket and opens it.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/admin/tickets/ticket/")
    with page.expect_navigation():
        page.locator("#next-ticket").click()
    assert "/change/" in page.url
    page.screenshot(path=str(SHOTS / "next-ticket-opened.png"), full_page=True)

    # Save the list filtered by priority as a view; it shows above the list.
    page.goto(f"{base}/admin/tickets/ticket/?priority__exact=1&o=newest")
    page.fill("#saved-view-name", "我的 P1 工单")
    with page.expect_navigation():
        page.locator("form.saved-view-save button[type=submit]").click()
    page.locator('.saved-views a[aria-current="true"]', has_text="我的 P1 工单").wait_for()
    page.screenshot(path=str(SHOTS / "saved-view.png"), full_page=True)
    assert errors == []
