"""A customer on a phone, in Chinese, reads their compensation and the incident report.

Screenshots go to var/browser/compensation/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from accounts import services as account_services
from compensation import services
from compensation.models import Grant
from status import services as status_services
from testsupport import browser_marks, browser_sign_in, watched_page

SHOTS = Path(settings.VAR_DIR) / "browser" / "compensation"

pytestmark = browser_marks()


@pytest.fixture
def granted(make_affected, make_incident, outage_policy, supervisor):
    customer = make_affected("苏州激光焊接有限公司")
    account_services.user_update_profile(user=customer, actor=customer, language="zh-hans")
    incident = make_incident()
    services.assess_incident(incident=incident, actor=supervisor)
    services.grants_approve(grant_ids=Grant.objects.values_list("pk", flat=True), actor=supervisor)
    status_services.report_publish(
        incident=incident,
        actor=supervisor,
        done_en="We moved calls to the backup carrier.",
        done_zh="我们将电话切换到备用运营商。",
    )
    return customer


def test_compensation_and_report_on_a_phone_in_chinese(browser, live_server, granted, password):
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    context, page, errors = watched_page(
        browser, viewport={"width": 390, "height": 844}, locale="zh-CN"
    )
    browser_sign_in(page, live_server.url, granted.email, password)
    page.get_by_role("link", name="补偿", exact=True).click()
    page.wait_for_load_state()
    text = page.inner_text("main")
    for wanted in ("保修延长 2 天", "维保代金券 1000.00 元", "优先服务 7 天", "华东热线中断"):
        assert wanted in text, wanted
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page is {wide}px wider than the screen"
    page.screenshot(path=str(SHOTS / "portal-compensation.png"), full_page=True)
    page.get_by_role("link", name="事件报告").first.click()
    page.wait_for_load_state()
    report = page.inner_text("main")
    for wanted in (
        "运营商中继故障。",
        "我们将电话切换到备用运营商。",
        "提供的补偿",
        "获得补偿的客户",
    ):
        assert wanted in report, wanted
    assert "苏州激光焊接有限公司" not in report
    page.screenshot(path=str(SHOTS / "incident-report.png"), full_page=True)
    assert not [e for e in errors if "favicon" not in e], errors
    context.close()
