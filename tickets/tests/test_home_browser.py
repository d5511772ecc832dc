"""The agents' home and the chat console in a real browser, at 1,280 px and on a 390 px phone.

Screenshots go to var/browser/home/ (the paths are printed); on the phone nothing may be wider
than the screen. The console's message box: Shift+Enter breaks a line, Enter sends, and the
message keeps its line break when shown. Without Chromium the tests skip.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from chat import presence, services
from chat.models import Conversation, ConversationStatus
from status.models import Incident, Severity
from testsupport import PASSWORD, Shots, add_totp, browser_marks, current_code
from tickets.models import Channel, QueueMember, Survey, Ticket
from tickets.services import sla

SHOTS = Path(settings.VAR_DIR) / "browser" / "home"

pytestmark = browser_marks()


def _session(browser, base: str, user) -> dict:
    """Sign in once (a TOTP code is good once) and return the browser's storage state."""
    context = browser.new_context()
    _sign_in(context.new_page(), base, user)
    state = context.storage_state()
    context.close()
    return state


def _sign_in(page, base: str, user) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_email", user.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    page.fill("#id_token", current_code(TOTPDevice.objects.get(user=user, confirmed=True)))
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()


def _due(ticket: Ticket, minutes: int, **fields) -> None:
    now = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(
        first_responded_at=None,
        first_response_due=now + dt.timedelta(minutes=minutes),
        next_reply_due=None,
        resolution_due=now + dt.timedelta(days=3),
        sla_paused_at=None,
        **fields,
    )
    ticket.refresh_from_db()
    ticket.save(update_fields=sla.sla_track(ticket))  # the stored nearest due time, as kept


def test_the_agents_home_at_desk_and_phone_widths(
    browser, live_server, queue_setup, open_ticket, make_customer, make_staff
):
    queue, supervisor, agents = queue_setup
    me = make_staff(full_name="林 Agent")
    QueueMember.objects.create(queue=queue, agent=me)
    long = "Porosity in stainless seams after the nozzle was changed on the second shift " * 2
    for minutes, subject in (
        (25, long),
        (50, "Chiller alarm E101"),
        (300, "焊缝发黑，保护气体不足"),
    ):
        _due(open_ticket(subject=subject[:200]), minutes, assignee=me)
    _due(open_ticket(subject="Nobody has this yet"), 45, assignee=None)
    _due(
        open_ticket(subject="请回电：激光器无法启动"), 600, assignee=None, channel=Channel.CALLBACK
    )
    customer = make_customer()
    Conversation.objects.create(
        organisation=customer.organisation,
        customer=customer,
        queue=queue,
        status=ConversationStatus.WAITING,
        created_at=timezone.now() - dt.timedelta(minutes=7),
    )
    Incident.objects.create(
        title_en="Hotline East unreachable",
        title_zh="华东热线无法接通",
        severity=Severity.objects.order_by("rank").first(),
        created_by="test",
    )
    first = Ticket.objects.filter(assignee=me).first()
    Survey.objects.create(ticket=first, agent=me, queue=queue, rating=5, answered_at=timezone.now())
    for person in (me, supervisor):
        add_totp(person)
    base = live_server.url
    state = _session(browser, base, me)
    for width, height in ((1280, 900), (390, 844)):
        shots = Shots(SHOTS / f"agent-{width}")
        context = browser.new_context(
            viewport={"width": width, "height": height}, storage_state=state
        )
        page = context.new_page()
        page.goto(f"{base}/admin/")
        assert page.locator("#home-tickets-mine li").count() == 3
        assert page.locator("#home-tickets-hour li").count() == 3  # 25, 45 and 50 minutes
        assert page.locator("#home-tickets-load").count() == 0
        assert "Nothing" not in page.locator("#home-chat-waiting").inner_text()
        shots(page, "home")
        with page.expect_navigation():
            page.locator("#home-tickets-mine .home-more a").click()
        assert page.locator("#result_list tbody tr").count() == 3
        shots(page, "my-open-tickets")
        context.close()

    shots = Shots(SHOTS / "supervisor-1280")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, base, supervisor)
    page.goto(f"{base}/admin/")
    assert page.locator("#home-tickets-load li").count() == len(agents) + 1
    shots(page, "home")
    with page.expect_navigation():
        page.locator(".home-models a", has_text="All models").click()
    assert page.locator("#content-main .app-tickets").count() == 1
    shots(page, "all-models")
    context.close()


def test_the_console_enter_sends_and_shift_enter_breaks_a_line(
    browser, live_server, queue_setup, make_customer, make_unit, open_ticket
):
    _queue, _supervisor, (agent, *_) = queue_setup
    customer = make_customer()
    unit = make_unit(customer.organisation)
    chat = services.conversation_open(customer=customer, unit=unit)
    presence.conversation_accept(conversation=chat, agent=agent)
    open_ticket(customer, unit=unit, subject="Seams show pores")
    services.message_post(
        conversation=chat, sender=customer, body="第一行\n第二行  (two spaces)", client_id="c-1"
    )
    add_totp(agent)
    base = live_server.url
    state = _session(browser, base, agent)
    for width, height in ((1280, 900), (390, 844)):
        shots = Shots(SHOTS / f"console-{width}")
        context = browser.new_context(
            viewport={"width": width, "height": height}, storage_state=state
        )
        page = context.new_page()
        page.goto(f"{base}/admin/chat/conversation/{chat.pk}/change/")
        shown = page.locator("#chat-log .chat-msg .text").first
        assert shown.inner_text() == "第一行\n第二行  (two spaces)"
        assert shown.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
        assert page.locator("#chat-context-tickets li").count() == 1
        assert page.locator("#chat-context-units li").count() == 1
        box = page.locator("#chat-body")
        box.click()
        box.type("line one")
        box.press("Shift+Enter")
        box.type("line two")
        assert box.input_value() == "line one\nline two"
        shots(page, "typing")
        box.press("Enter")
        # chat.js took the submit (sent over the socket, or queued until it connects).
        page.wait_for_function("document.getElementById('chat-body').value === ''")
        pending = page.locator("#chat-log .chat-msg.mine .text").last
        assert pending.inner_text() == "line one\nline two"
        shots(page, "sent")
        context.close()
