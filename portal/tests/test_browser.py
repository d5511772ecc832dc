"""The portal in a real browser: Playwright driving Debian's Chromium against a live server.

A customer signs in, files a fault report with a photo, sees a suggested help article and the
new ticket; an agent answers and resolves it in the admin workspace; the customer sees the
answer and rates it. Once in English, once in Chinese. Every page is screenshotted into
var/browser/<language>/ (the paths are printed). Without Chromium the tests skip.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from testsupport import PASSWORD, Shots, add_totp, browser_marks, current_code, no_socket_here

SHOTS = Path(settings.VAR_DIR) / "browser"

pytestmark = browser_marks()

TEXT = {
    "en": {
        "sign_in": "Sign in",
        "report": "Report a fault",
        "send_report": "Send the fault report",
        "thanks": "is with our service desk",
        "rate": "Send rating",
        "rated": "Thank you for your rating.",
    },
    "zh-hans": {
        "sign_in": "登录",
        "report": "报告故障",
        "send_report": "提交故障报告",
        "thanks": "已送达我们的服务台",
        "rate": "提交评分",
        "rated": "感谢您的评分。",
    },
}


def _world(language: str, make_customer, make_staff, make_unit, sla_setup, queue_setup):
    from equipment.models import FaultCode
    from knowledge.services import article_create

    _queue, supervisor, agents = queue_setup
    customer = make_customer(email=f"chen.{language}@factory.example", language=language)
    unit = make_unit(customer.organisation)
    code = FaultCode.objects.create(
        code="E-201",
        title_en="Protective lens contaminated",
        title_zh="保护镜片污染",
        severity="medium",
    )
    if language == "en":
        article_create(
            actor=supervisor,
            title="Porosity in the seam: check the shielding gas first",
            body="## Porosity\n\nPores in the seam usually mean poor gas coverage. "
            "Check the gas flow (15-20 L/min argon) and the nozzle.",
            language="en",
            fault_codes=[code],
            is_published=True,
        )
    else:
        article_create(
            actor=supervisor,
            title="焊缝气孔：先检查保护气",
            body="## 焊缝气孔\n\n焊缝出现气孔通常是保护气覆盖不良。"
            "请检查气体流量（氩气 15-20 升/分）和喷嘴。",
            language="zh-hans",
            fault_codes=[code],
            is_published=True,
        )
    add_totp(agents[0])  # staff sign in with a second factor
    return customer, unit, agents[0]


def _sign_in(page, base: str, email: str, password: str, label: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_email", email)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()


def _otp(page, agent) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=agent, confirmed=True)
    page.fill("#id_token", current_code(device))
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_fault_report_answer_and_rating_in_a_browser(
    language, browser, live_server, make_customer, make_staff, make_unit, sla_setup, queue_setup
):
    from tickets.models import Ticket

    text = TEXT[language]
    customer, unit, agent = _world(
        language, make_customer, make_staff, make_unit, sla_setup, queue_setup
    )
    base = live_server.url
    shot = Shots(SHOTS / language)
    photo = Path(__file__).with_name("seam.png")

    # --- the customer, on a phone-sized screen
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="zh-CN" if language != "en" else "en-GB",
    )
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The live server is WSGI: the workspace's socket is refused there (testsupport).
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and not no_socket_here(m.text) else None
        ),
    )
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.goto(f"{base}/accounts/login/")
    shot(page, "login")
    # By keyboard alone: the e-mail field has the focus, Tab moves on, Enter submits.
    assert page.evaluate("document.activeElement.id") == "id_email"
    page.keyboard.type(customer.email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert text["report"] in page.inner_text("body")
    shot(page, "home")
    with page.expect_navigation():
        page.get_by_role("link", name=text["report"]).first.click()
    page.select_option("#id_unit", str(unit.pk))
    # How bad it is: two taps (slowed down, nobody in danger).
    page.locator("label[for=id_production_1]").click()
    page.locator("label[for=id_safety_risk_1]").click()
    page.fill("#fault-code-filter", "E-201")
    page.fill("#id_subject", "Porosity" if language == "en" else "焊缝气孔")
    body = (
        "Pores in every seam since this morning, shielding gas bottle is new."
        if language == "en"
        else "今天早上开始每条焊缝都有气孔，保护气瓶是新换的。"
    )
    page.fill("#id_body", body)
    suggestion = page.locator("#suggestions a").first
    suggestion.wait_for(timeout=5000)
    expected = "Porosity in the seam" if language == "en" else "焊缝气孔：先检查保护气"
    assert expected in suggestion.inner_text()
    page.fill("#id_laser_power_w", "1500")
    page.set_input_files("#id_photos", str(photo))
    # The suggestions follow the typing (a request per pause): let the last one land, as a
    # customer reads them before sending.
    page.wait_for_load_state("networkidle")
    shot(page, "fault-report-with-suggestion")
    # Sent from the keyboard: a pointer click right after the full-page screenshot can land
    # while Chromium restores the phone viewport (the long Chinese form), and is lost.
    page.get_by_role("button", name=text["send_report"]).focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    ticket = Ticket.objects.get(requester=customer)
    assert ticket.reference in page.inner_text("main")
    assert text["thanks"] in page.inner_text("main")
    assert "seam.png" in page.inner_text("main")
    assert ticket.fault_report.fault_code.code == "E-201"
    assert (ticket.fault_report.production, ticket.priority) == ("degraded", 2)
    shot(page, "ticket-created")

    # --- the agent, in the admin workspace on a desktop
    desk = browser.new_context(viewport={"width": 1366, "height": 900})
    admin = desk.new_page()
    _sign_in(admin, base, agent.email, PASSWORD, TEXT["en"]["sign_in"])
    shot(admin, "agent-second-factor")
    _otp(admin, agent)
    admin.goto(f"{base}/admin/tickets/ticket/{ticket.pk}/change/")
    shot(admin, "agent-workspace")
    answer = "Please replace the nozzle and set the gas flow to 18 L/min."
    admin.fill("#reply-box textarea[name=body]", answer)
    with admin.expect_navigation():
        admin.locator("#reply-box input[type=submit]").click()
    admin.select_option("select[name=status]", "resolved")
    with admin.expect_navigation():
        admin.locator("form.side-form:has(select[name=status]) input[type=submit]").click()
    shot(admin, "agent-replied-and-resolved")
    ticket.refresh_from_db()
    assert ticket.status == "resolved"
    desk.close()

    # --- the customer sees the answer and rates it
    page.goto(f"{base}/portal/tickets/{ticket.reference}/")
    assert answer in page.inner_text("main")
    shot(page, "answer-seen")
    page.locator("label.star", has_text="5").click()
    with page.expect_navigation():
        page.get_by_role("button", name=text["rate"]).click()
    assert text["rated"] in page.inner_text("body")
    shot(page, "rated")
    assert ticket.surveys.get().rating == 5
    assert re.search(r"lang=\"(en|zh-hans)\"", page.content())
    assert not errors, errors
    phone.close()
