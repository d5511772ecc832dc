"""The chat in a real browser: the customer's chat page and the agent console, live.

A Daphne server (WebSockets) runs against the test database; the agent opens the console
(which makes them online), the customer starts a chat from the portal and writes; the agent
sees it in the console and answers; the customer sees the answer without reloading. Every
page is screenshotted into var/browser/chat/. A second flow is a customer on a 390 px phone in
Chinese (var/browser/chat-phone-zh/): the launcher beside the fault form's fields, the message
box's width and label, Enter and Shift+Enter, the bot's help articles and its ticket and
shipment links (each named once, as a link), the agent answering with Enter.
Without Chromium the tests skip.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.urls import reverse

from chat.tests.servers import daphne_servers
from testsupport import (
    PASSWORD,
    Shots,
    add_totp,
    browser_marks,
    browser_sign_in,
    current_code,
    watched_page,
)

SHOTS = Path(settings.VAR_DIR) / "browser" / "chat"
PHONE_SHOTS = Path(settings.VAR_DIR) / "browser" / "chat-phone-zh"

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
    shot = Shots(SHOTS)

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
        with page.expect_file_chooser() as chooser:  # the paperclip opens the hidden picker
            page.locator("#chat-attach").click()
        chooser.value.set_files(str(photo))
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
        # On a desktop the launcher floats, beside the fault form, never on its fields.
        wide.goto(f"{base}{reverse('portal:ticket_new')}")
        height = wide.evaluate("document.documentElement.scrollHeight")
        for y in [*range(0, height, 300), height]:
            wide.evaluate(f"window.scrollTo(0, {y})")
            assert wide.evaluate(COVERED_FIELDS) == [], f"the launcher covers fields at y={y}"
        shot(wide, "customer-fault-form-desktop")
        # In a narrower window the form reaches the right edge: the launcher is a button in the
        # page, no field is under it, and it opens the chat page rather than the panel.
        wide.set_viewport_size({"width": 860, "height": 800})
        assert wide.evaluate(COVERED_FIELDS) == []
        launcher = wide.locator("#chat-launcher")
        assert launcher.evaluate("(el) => getComputedStyle(el).position") == "static"
        wide.evaluate("window.scrollTo(0, 0)")
        shot(wide, "customer-fault-form-narrow", full_page=False)
        with wide.expect_navigation():
            launcher.click()
        assert wide.url == f"{base}{reverse('portal:chat')}"
        assert not [e for e in errors if "favicon" not in e], errors
        desktop.close()
        phone.close()
        desk.close()


# The geometry a phone test reads, in the page: one element's box and its row's, and whether a
# floating box sits on any form field at the current scroll position.
BOX_AND_ROW = """(el) => {
  const box = el.getBoundingClientRect(), row = el.parentElement.getBoundingClientRect();
  return {box: box.width, row: row.width};
}"""
COVERED_FIELDS = """() => {
  const launcher = document.getElementById('chat-launcher').getBoundingClientRect();
  const fields = document.querySelectorAll('input:not([type=hidden]), textarea, select');
  return Array.from(fields).filter((f) => {
    const r = f.getBoundingClientRect();
    if (!r.width || !r.height) { return false; }  // not shown
    return r.left < launcher.right && launcher.left < r.right
        && r.top < launcher.bottom && launcher.top < r.bottom;
  }).map((f) => f.id || f.name);
}"""
# Where each link listed under a message is drawn: its left edge and top. One per line, each
# lower than the one before, all starting at the same place.
LINK_BOXES = """(li) => Array.from(li.querySelectorAll('ul.links a')).map((a) => {
  const r = a.getBoundingClientRect();
  return {left: r.left, top: r.top, height: r.height};
})"""
# The links listed under a message: (href as written, kind, text).
LINKS = """(li) => Array.from(li.querySelectorAll('ul.links a')).map(
  (a) => [a.getAttribute('href'), a.dataset.kind, a.textContent])"""


def test_phone_chat_in_chinese_enter_sends_and_the_launcher_covers_no_field(
    browser, tmp_path, make_customer, make_unit, queue_setup, open_ticket, make_shipment
):
    """A customer on a 390 px phone, in Chinese: the fault form's fields are never under the
    chat launcher; the message box takes its row and has a visible label; Shift+Enter breaks
    the line and Enter sends; the bot's answer keeps its lines and names each help article
    once, as a link; its answers about a ticket and a shipment link their pages (live and after
    a reload); the agent, online later, gets the chat, sees the line break and answers with
    Enter."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User
    from chat.models import Conversation
    from knowledge.services import article_create

    _queue, supervisor, agents = queue_setup
    agent = agents[0]
    add_totp(agent)
    customer = make_customer(language="zh-hans")
    unit = make_unit(customer.organisation)
    ticket = open_ticket(customer, unit=unit, subject="不锈钢焊缝气孔多")
    shipment = make_shipment(customer.organisation, tickets=[ticket], hours_ago=3)
    titles = ["焊缝气孔：先检查保护气", "焊缝气孔：清洁喷嘴和保护镜片"]
    for title in titles:
        article_create(
            actor=supervisor,
            title=title,
            body="## 焊缝气孔\n\n焊缝出现气孔通常是保护气覆盖不良。请检查气体流量和喷嘴。",
            language="zh-hans",
            is_published=True,
        )
    hashed = PBKDF2PasswordHasher().encode(PASSWORD, "browsertestsalt", iterations=1000)
    User.objects.filter(pk__in=[agent.pk, customer.pk]).update(password=hashed)
    shot = Shots(PHONE_SHOTS)

    with daphne_servers(1, tmp_path, redis=bool(settings.REDIS_URL)) as (port,):
        base = f"http://127.0.0.1:{port}"
        phone, page, errors = watched_page(
            browser, viewport={"width": 390, "height": 844}, locale="zh-CN"
        )
        browser_sign_in(page, base, customer.email, PASSWORD)

        # The fault form: scrolled top to bottom, the launcher never sits on a field.
        page.goto(f"{base}{reverse('portal:ticket_new')}")
        launcher = page.locator("#chat-launcher")
        assert launcher.is_visible() and launcher.inner_text() == "在线咨询"
        shot(page, "fault-form", full_page=False)
        height = page.evaluate("document.documentElement.scrollHeight")
        for y in [*range(0, height, 150), height]:
            page.evaluate(f"window.scrollTo(0, {y})")
            assert page.evaluate(COVERED_FIELDS) == [], f"the launcher covers fields at y={y}"
        shot(page, "fault-form-bottom", full_page=False)

        # The chat, started from the launcher (on a phone, the chat page itself).
        page.evaluate("window.scrollTo(0, 0)")
        with page.expect_navigation():
            launcher.click()
        page.select_option("#chat-unit", str(unit.pk))
        with page.expect_navigation():
            page.locator("main form button[type=submit]").last.click()
        conversation = Conversation.objects.get(customer=customer)
        assert conversation.agent_id is None  # nobody online: the bot will answer
        label = page.locator("label[for=chat-body]")
        assert label.is_visible() and label.inner_text() == "您的消息"
        box = page.locator("#chat-body")
        sizes = box.evaluate(BOX_AND_ROW)
        assert sizes["box"] >= 0.7 * sizes["row"], sizes
        attach = page.locator("#chat-attach")
        assert attach.is_visible() and attach.get_attribute("type") == "button"
        assert page.locator("#chat-file").is_hidden()  # no wide file picker in the row
        shot(page, "chat-start", full_page=False)

        box.click()
        box.type("焊缝有气孔")
        box.press("Shift+Enter")
        box.type("保护气流量正常")
        assert box.input_value() == "焊缝有气孔\n保护气流量正常"
        assert page.locator("#chat-log li.mine").count() == 0  # Shift+Enter did not send
        box.press("Enter")
        mine = page.locator("#chat-log li.mine[data-seq='1']")
        mine.wait_for(timeout=10000)
        assert box.input_value() == ""
        assert mine.locator(".text").inner_text() == "焊缝有气孔\n保护气流量正常"

        # The bot answers live: a line introduces the articles, listed under it once, as links,
        # each on a line of its own.
        answer = page.locator("#chat-log li.bot")
        answer.wait_for(timeout=10000)
        lines = answer.locator(".text").inner_text().split("\n")
        assert len(lines) >= 3, lines  # busy, the place in the queue, the articles' line
        assert lines[-1] == "这些帮助文章也许能马上解决问题：", lines
        links = answer.evaluate(LINKS)
        assert sorted(text for _href, _kind, text in links) == titles, links
        assert all(h.startswith("/portal/help/zh-hans/") and k == "articles" for h, k, _t in links)
        said = answer.inner_text()
        assert all(said.count(title) == 1 for title in titles), said  # not in the text too
        boxes = answer.evaluate(LINK_BOXES)
        assert len(boxes) == 2 and boxes[0]["left"] == boxes[1]["left"], boxes
        assert boxes[0]["top"] + boxes[0]["height"] <= boxes[1]["top"], boxes
        shot(page, "chat-bot-answered", full_page=False)
        shot(page, "chat-bot-answered-page")

        # The ticket and the shipment: their numbers in the text, their pages linked under it.
        ticket_url = f"/portal/tickets/{ticket.reference}/"
        shipment_url = f"/portal/shipments/{shipment.pk}/"
        box.fill(f"工单{ticket.reference}的进度怎么样？")
        box.press("Enter")
        about_ticket = page.locator("#chat-log li.bot", has_text="不锈钢焊缝气孔多")
        about_ticket.wait_for(timeout=10000)
        [(href, kind, text_ticket)] = about_ticket.evaluate(LINKS)
        assert (href, kind) == (ticket_url, "tickets") and ticket.reference in text_ticket
        assert "/portal/" not in about_ticket.locator(".text").inner_text()
        box.fill(f"我的快递{shipment.tracking_number}到哪了")
        box.press("Enter")
        about_parcel = page.locator("#chat-log li.bot", has_text="承运商")
        about_parcel.wait_for(timeout=10000)
        [(href, kind, text_parcel)] = about_parcel.evaluate(LINKS)
        assert (href, kind) == (shipment_url, "shipments")
        assert shipment.tracking_number in text_parcel
        assert "/portal/" not in about_parcel.locator(".text").inner_text()
        shot(page, "chat-bot-links", full_page=False)
        # The same links after a reload (the page the server renders, as without JavaScript).
        page.reload()
        rendered = page.locator("#chat-log li.bot ul.links a")
        assert [a.get_attribute("href") for a in rendered.all()][-2:] == [ticket_url, shipment_url]
        assert [a.inner_text() for a in rendered.all()][-2:] == [text_ticket, text_parcel]
        assert page.locator("#chat-log li.bot ul.links a", has_text=titles[0]).count() == 1
        page.goto(f"{base}{ticket_url}")  # the link opens a new tab: follow it here instead
        assert ticket.reference in page.inner_text("main")
        page.go_back()
        page.locator("#chat-log li.bot").first.wait_for(timeout=10000)
        shot(page, "chat-bot-links-reloaded", full_page=False)

        # The agent comes online: the chat is theirs; they see the line break, answer with Enter.
        desk, console, desk_errors = watched_page(browser, viewport={"width": 1366, "height": 900})
        browser_sign_in(console, base, agent.email, PASSWORD)
        console.fill("#id_token", current_code(TOTPDevice.objects.get(user=agent)))
        with console.expect_navigation():
            console.locator("main form button[type=submit]").click()
        console.goto(f"{base}/admin/chat/conversation/")
        console.locator("#console-presence.presence-online").wait_for(timeout=10000)
        console.goto(f"{base}/admin/chat/conversation/{conversation.pk}/change/")
        conversation.refresh_from_db()
        assert conversation.agent_id == agent.pk
        written = console.locator("#chat-log li", has_text="焊缝有气孔")
        assert written.locator(".text").inner_text() == "焊缝有气孔\n保护气流量正常"
        reply = console.locator("#chat-body")
        reply.click()
        reply.type("请先检查喷嘴。")
        reply.press("Shift+Enter")
        reply.type("然后清洁保护镜片。")
        reply.press("Enter")
        console.locator("#chat-log li.mine", has_text="请先检查喷嘴").wait_for(timeout=10000)
        shot(console, "console-answered")

        # The customer's page (reloaded when the agent took the chat) shows the answer live.
        heard = page.locator("#chat-log li.agent", has_text="请先检查喷嘴")
        heard.wait_for(timeout=10000)
        assert heard.locator(".text").inner_text() == "请先检查喷嘴。\n然后清洁保护镜片。"
        shot(page, "chat-agent-answered", full_page=False)
        assert not errors and not desk_errors, errors + desk_errors
        desk.close()
        phone.close()
