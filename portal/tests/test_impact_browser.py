"""The fault form's impact questions on a 390 px phone, in Chinese: readable, each answer one
tap on a large target, a published incident of the region above the form, and the ticket page
saying when the first answer is due. Screenshots in var/browser/impact-zh/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from testsupport import PASSWORD, Shots, browser_marks, browser_sign_in, watched_page

pytestmark = browser_marks()

SHOTS = Path(settings.VAR_DIR) / "browser" / "impact-zh"
TAP = 44  # px: the smallest comfortable touch target (WCAG 2.5.5, Apple and Material guides)


def test_a_chinese_customer_answers_the_impact_with_two_taps_on_a_phone(
    browser, live_server, make_customer, make_unit, sla_setup, queue_setup, components
):
    from status import services as status_services
    from status.models import Severity
    from status.selectors import forget_summary
    from tickets.models import Ticket

    customer = make_customer(language="zh-hans", email="wang.gong@factory.example")
    unit = make_unit(customer.organisation)
    status_services.incident_open(
        actor=queue_setup[1],
        severity=Severity.objects.order_by("rank").first(),
        title_en="Hotline East down",
        title_zh="华东服务热线中断",
        components={components["east"]: "major_outage"},
        body_en="The East hotline does not answer.",
        body_zh="华东热线无法接通，请使用门户或在线客服。",
        expected_recovery=timezone.now() + dt.timedelta(hours=3),
    )
    forget_summary()
    shot = Shots(SHOTS)
    context, page, errors = watched_page(
        browser,
        wsgi_server=True,
        viewport={"width": 390, "height": 844},
        locale="zh-CN",
        has_touch=True,
    )
    try:
        browser_sign_in(page, live_server.url, customer.email, PASSWORD)
        page.goto(f"{live_server.url}/portal/tickets/new/")
        known = page.locator(".known-incidents")
        assert "华东服务热线中断" in known.inner_text()
        assert known.locator("a[href^='/status/incidents/']").count() == 1
        page.select_option("#id_unit", str(unit.pk))
        shot(page, "fault-form-phone")
        for label in page.locator("label.choice").all():
            box = label.bounding_box()
            assert box["height"] >= TAP, (label.inner_text(), box)
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (label.inner_text(), box)
            assert label.inner_text().strip()  # every answer says what it means
        impact = page.locator("section.impact")
        impact.scroll_into_view_if_needed()
        page.locator("label[for=id_production_0]").tap()
        page.locator("label[for=id_safety_risk_1]").tap()
        assert page.is_checked("#id_production_0") and page.is_checked("#id_safety_risk_1")
        impact.screenshot(path=str(SHOTS / "impact-answered.png"))
        page.fill("#id_subject", "E101 激光器过温")
        page.fill("#id_body", "显示 E101，二号线焊接停止。")
        with page.expect_navigation():
            page.locator("#fault-report button[type=submit]").click()
        ticket = Ticket.objects.get(requester=customer)
        assert ticket.priority == 1 and ticket.fault_report.production == "stopped"
        assert page.locator("#first-answer-due").is_visible()
        shot(page, "ticket-first-answer-due")
        assert errors == []
    finally:
        context.close()
