"""The chat in a real browser: the customer's chat page and the agent console, live.

A Daphne server (WebSockets) runs against the test database; the agent opens the console
(which makes them online), the customer starts a chat from the portal and writes; the agent
sees it in the console and answers; the customer sees the answer without reloading. Every
page is screenshotted into var/browser/chat/. Without Chromium the test skips.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from chat.tests.servers import daphne_servers
from testsupport import PASSWORD, add_totp, browser_marks, current_code

SHOTS = Path(settings.VAR_DIR) / "browser" / "chat"

pytestmark = browser_marks()


def test_customer_and_agent_chat_live(browser, tmp_path, make_customer, make_unit, queue_setup):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from accounts.models import User
    from chat.models import Conversation

    agent = queue_setup[2][0]
    add_totp(agent)
    customer = make_customer(language="en")
    unit = make_unit(customer.organisation)
    # The tests hash passwords with a fast hasher the server process does not know.
    hashed = PBKDF2PasswordHasher().encode(PASSWORD, "browsertestsalt", iterations=1000)
    User.objects.filter(pk__in=[agent.pk, customer.pk]).update(password=hashed)
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    shots = iter(range(1, 100))

    def shot(page, name):
        path = SHOTS / f"{next(shots):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")  # noqa: T201

    with daphne_servers(1, tmp_path, redis=bool(settings.REDIS_URL)) as (port,):
        base = f"http://127.0.0.1:{port}"
        errors: list[str] = []

        def watch(page):
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "response",
                lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )

        # The agent signs in with the second factor and opens the console: online.
        desk = browser.new_context(viewport={"width": 1366, "height": 900})
        console = desk.new_page()
        watch(console)
        console.goto(f"{base}/accounts/login/")
        console.fill("#id_email", agent.email)
        console.fill("#id_password", PASSWORD)
        with console.expect_navigation():
            console.locator("main form button[type=submit]").click()
        from django_otp.plugins.otp_totp.models import TOTPDevice

        console.fill("#id_token", current_code(TOTPDevice.objects.get(user=agent)))
        with console.expect_navigation():
            console.locator("main form button[type=submit]").click()
        console.goto(f"{base}/admin/chat/conversation/")
        console.locator("#console-presence.presence-online").wait_for(timeout=10000)
        shot(console, "console-online")

        # The customer starts a chat from the portal on a phone and writes.
        phone = browser.new_context(viewport={"width": 390, "height": 844})
        page = phone.new_page()
        watch(page)
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_email", customer.email)
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
        with page.expect_navigation():
            page.locator("a.chat-launcher").click()
        page.select_option("#chat-unit", str(unit.pk))
        shot(page, "customer-starts")
        with page.expect_navigation():
            page.locator("main form button[type=submit]").last.click()
        conversation = Conversation.objects.get(customer=customer)
        assert conversation.agent_id == agent.pk  # routed to the online agent
        page.fill("#chat-body", "The chiller shows alarm E30")
        page.locator("#chat-form button[type=submit]").click()
        page.locator("#chat-log li.mine[data-seq='1']").wait_for(timeout=10000)
        shot(page, "customer-wrote")

        # The agent answers in the console.
        console.goto(f"{base}/admin/chat/conversation/{conversation.pk}/change/")
        console.locator("#chat-log li", has_text="alarm E30").wait_for(timeout=10000)
        console.fill("#chat-body", "Please check the coolant level first.")
        console.locator("#chat-form input[type=submit]").click()
        console.locator("#chat-log li.mine[data-seq='2']").wait_for(timeout=10000)
        shot(console, "agent-answered")

        # The customer sees the answer live, without reloading.
        page.locator("#chat-log li", has_text="coolant level").wait_for(timeout=10000)
        shot(page, "customer-sees-answer")

        # A photo: uploaded, sent by id, shown inline on both sides.
        photo = Path(__file__).resolve().parents[2] / "portal" / "tests" / "seam.png"
        page.set_input_files("#chat-file", str(photo))
        page.locator("#chat-log li.mine[data-seq='3'] img").wait_for(timeout=10000)
        console.locator("#chat-log li img").wait_for(timeout=10000)
        shot(page, "customer-sent-photo")
        shot(console, "agent-sees-photo")
        assert [m.seq for m in conversation.messages.order_by("seq")] == [1, 2, 3]
        assert conversation.attachments.get().message.seq == 3
        # On a desktop, "Chat with us" opens the same chat in a floating panel over the page.
        desktop = browser.new_context(viewport={"width": 1280, "height": 800})
        wide = desktop.new_page()
        watch(wide)
        wide.goto(f"{base}/accounts/login/")
        wide.fill("#id_email", customer.email)
        wide.fill("#id_password", PASSWORD)
        with wide.expect_navigation():
            wide.locator("main form button[type=submit]").click()
        home = f"{base}{reverse('portal:home')}"
        wide.goto(home)
        wide.locator("#chat-launcher").click()
        framed = wide.frame_locator("#chat-panel iframe")
        framed.locator("#chat-log li", has_text="coolant level").wait_for(timeout=10000)
        framed.locator("#chat-body").fill("Coolant topped up, the alarm is gone")
        framed.locator("#chat-form button[type=submit]").click()
        framed.locator("#chat-log li.mine[data-seq='4']").wait_for(timeout=10000)
        console.locator("#chat-log li", has_text="alarm is gone").wait_for(timeout=10000)
        assert wide.url == home  # the customer never left the page
        shot(wide, "customer-widget-panel")
        wide.locator(".chat-panel-close").click()
        assert wide.locator("#chat-panel").is_hidden()
        assert not [e for e in errors if "favicon" not in e], errors
        desktop.close()
        phone.close()
        desk.close()
