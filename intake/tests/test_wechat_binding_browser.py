"""The linking page as a customer sees it on a phone in Chinese: the code and its QR code are
shown, and the page passes axe-core's WCAG 2.1 A/AA rules (the accessibility walk cannot reach
it: it is the answer to a POST)."""

from __future__ import annotations

import re

import pytest

from servicedesk.tests import a11y_pages
from testsupport import PASSWORD, browser_marks

pytestmark = [
    *browser_marks(),
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not a11y_pages.AXE_JS.exists(), reason="no axe-core: npm ci --prefix tools/axe"
    ),
]


def test_the_linking_page_shows_the_code_and_passes_axe_on_a_phone(
    browser, live_server, make_customer
):
    customer = make_customer(language="zh-hans")
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", bypass_csp=True
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_email", customer.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    page.goto(f"{live_server.url}/portal/profile/")
    with page.expect_navigation():
        page.locator("form[action='/portal/profile/link/'] button").click()

    text = page.locator("main").inner_text()
    assert re.search(r"绑定 [A-Z2-9]{4}-[A-Z2-9]{4}", text), text
    assert page.locator(".qr svg").count() == 1
    problems = a11y_pages.describe("link page", a11y_pages.run_axe(page))
    assert problems == [], "\n".join(problems)
    context.close()
