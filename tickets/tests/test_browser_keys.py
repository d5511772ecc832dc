"""The workspace's keyboard layer in a real browser (static/tickets/keys.js).

An agent moves through the list with j/k and opens a ticket with Enter; on the ticket page r
and n focus the reply as a public reply or an internal note, s the status, a assigns to me, ::
inserts a canned response, Ctrl+Enter sends, e resolves and ? shows the keys (in Chinese for
a Chinese agent, at 1,280 px). Screenshots go to var/browser/keys/ (the paths are printed).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from testsupport import PASSWORD, Shots, add_totp, browser_marks, current_code, watched_page

SHOTS = Path(settings.VAR_DIR) / "browser" / "keys"
GAS = "Please check the shielding gas flow: argon at 15-20 l/min, {name}."
LENS = "Please replace the protective lens; a spare is on its way."

pytestmark = browser_marks()


@pytest.fixture
def desk(queue_setup, open_ticket, make_customer):
    """Three unassigned tickets of the agent's queue and two canned responses."""
    from tickets.models import CannedResponse
    from tickets.services import tickets as svc

    _queue, supervisor, agents = queue_setup
    agent = agents[0]
    add_totp(agent)
    CannedResponse.objects.create(
        title="Shielding gas check", body_en=GAS.replace("{name}", "{requester_name}")
    )
    CannedResponse.objects.create(title="Lens replacement", body_en=LENS)
    tickets = []
    for n, subject in enumerate(["Porosity in seams", "Lens alarm E101", "Wire feed stalls"]):
        ticket = open_ticket(make_customer(full_name=f"Wang {n}"), subject=subject)
        tickets.append(svc.ticket_assign(ticket=ticket, agent=None, actor=supervisor))
    return agent, tickets


def _sign_in_staff(page, base: str, agent) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_email", agent.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    device = TOTPDevice.objects.get(user=agent, confirmed=True)
    page.fill("#id_token", current_code(device))
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()


def _focused(page) -> str:
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e ? (e.id || e.getAttribute('name') || e.tagName) : ''; }"
    )


def test_list_j_k_and_enter(browser, live_server, desk):
    agent, _tickets = desk
    shot = Shots(SHOTS / "list", fits_screen=False)
    context, page, errors = watched_page(
        browser, wsgi_server=True, viewport={"width": 1280, "height": 900}
    )
    _sign_in_staff(page, live_server.url, agent)
    page.goto(f"{live_server.url}/admin/tickets/ticket/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    page.keyboard.press("j")
    assert "kbd-current" in rows.nth(0).get_attribute("class")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")  # stays on the last row
    assert "kbd-current" in rows.nth(2).get_attribute("class")
    assert "kbd-current" not in (rows.nth(0).get_attribute("class") or "")
    page.keyboard.press("k")
    second = rows.nth(1)
    assert "kbd-current" in second.get_attribute("class")
    assert second.get_attribute("aria-current") == "true"
    # The row's reference link has the focus: Enter opens it.
    assert page.evaluate("document.activeElement.closest('tr.kbd-current') !== null")
    shot(page, "second-row-selected", full_page=False)
    outline = page.evaluate(
        "getComputedStyle(document.querySelector('tr.kbd-current')).outlineStyle"
    )
    assert outline == "solid"
    href = second.locator("th a").get_attribute("href")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(href)
    page.go_back()
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("o")
    assert re.search(r"/admin/tickets/ticket/\d+/change/$", page.url)
    # The list has the "Next ticket" button: its line shows in the dialog, and n presses it,
    # taking the most urgent unassigned ticket of the agent's queue and opening it.
    page.go_back()
    page.keyboard.press("?")
    assert page.locator("#kbd-help").evaluate("d => d.open")
    assert page.locator("#kbd-help [data-kbd-needs]").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#kbd-help").evaluate("d => d.open")
    with page.expect_navigation():
        page.keyboard.press("n")
    taken = re.search(r"/admin/tickets/ticket/(\d+)/change/$", page.url)
    assert taken, page.url
    from tickets.models import Ticket

    assert Ticket.objects.get(pk=taken.group(1)).assignee_id == agent.pk
    assert errors == []
    context.close()


def test_ticket_page_keys_picker_and_ctrl_enter(browser, live_server, desk):
    from tickets.models import Message, Ticket

    agent, tickets = desk
    ticket = tickets[0]
    shot = Shots(SHOTS / "ticket", fits_screen=False)
    context, page, errors = watched_page(
        browser, wsgi_server=True, viewport={"width": 1280, "height": 900}
    )
    _sign_in_staff(page, live_server.url, agent)
    url = f"{live_server.url}/admin/tickets/ticket/{ticket.pk}/change/"
    page.goto(url)
    body = page.locator("#reply-box textarea[name=body]")

    # r: a public reply; typing r in the text does not jump anywhere.
    page.keyboard.press("r")
    assert _focused(page) == "reply_body"
    assert page.locator("#reply_visibility_0").is_checked()
    page.keyboard.type("r")
    assert body.input_value() == "r"
    page.keyboard.press("Escape")  # leaves the text box
    assert _focused(page) == "BODY"
    # n: an internal note, marked as one.
    page.keyboard.press("n")
    assert _focused(page) == "reply_body"
    assert page.locator("#reply_visibility_1").is_checked()
    assert "is-internal" in page.locator("#reply-box").get_attribute("class")
    page.keyboard.press("Escape")
    # s: the status select.
    page.keyboard.press("s")
    assert _focused(page) == "status_status"
    page.keyboard.press("Escape")
    # A modifier never triggers a key.
    page.keyboard.press("Alt+r")
    assert _focused(page) == "BODY"

    # a: assign to me (a POST with the version).
    with page.expect_navigation():
        page.keyboard.press("a")
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == agent.pk
    assert page.locator("#assign-me").count() == 0

    # ::, type to filter, Enter inserts the rendered response in place of "::".
    page.keyboard.press("r")
    page.keyboard.type("Hello. ::")
    picker = page.locator("#canned-picker")
    assert picker.is_visible()
    assert _focused(page) == "canned-search"
    search = page.locator("#canned-search")
    assert search.get_attribute("aria-expanded") == "true"
    assert page.locator("#canned-options [role=option]").count() == 2
    page.keyboard.type("gas")
    options = page.locator("#canned-options [role=option]")
    assert options.count() == 1
    assert search.get_attribute("aria-activedescendant") == options.nth(0).get_attribute("id")
    assert options.nth(0).get_attribute("aria-selected") == "true"
    shot(page, "canned-picker")
    page.keyboard.press("Enter")
    assert picker.is_hidden()
    assert _focused(page) == "reply_body"
    text = body.input_value()
    assert text.startswith("Hello. Please check the shielding gas flow")
    assert "::" not in text and "Wang 0" in text  # rendered for this ticket's requester
    # Esc cancels a second picker, keeping the text and the "::".
    page.keyboard.type(" ::")
    assert picker.is_visible()
    page.keyboard.type("lens")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    assert picker.is_hidden() and _focused(page) == "reply_body"
    assert body.input_value().endswith(" ::")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    shot(page, "reply-filled")

    # Ctrl+Enter sends.
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    sent = Message.objects.filter(ticket=ticket, author=agent).get()
    assert sent.internal is False and sent.body.startswith("Hello. Please check the shielding")

    # e resolves.
    with page.expect_navigation():
        page.keyboard.press("e")
    assert Ticket.objects.get(pk=ticket.pk).status == "resolved"
    shot(page, "resolved")
    assert errors == []
    context.close()


def test_reply_to_an_unassigned_ticket_assigns_it_and_meta_enter_sends(browser, live_server, desk):
    from tickets.models import Ticket

    agent, tickets = desk
    ticket = tickets[1]
    context, page, errors = watched_page(
        browser, wsgi_server=True, viewport={"width": 1280, "height": 900}
    )
    _sign_in_staff(page, live_server.url, agent)
    page.goto(f"{live_server.url}/admin/tickets/ticket/{ticket.pk}/change/")
    page.keyboard.press("r")
    page.keyboard.type("We will call you within the hour.")
    with page.expect_navigation():
        page.keyboard.press("Meta+Enter")
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == agent.pk
    assert page.locator(".messagelist .success").count() == 1
    assert errors == []
    context.close()


def test_help_dialog_in_chinese_at_1280(browser, live_server, desk):
    agent, tickets = desk
    agent.language = "zh-hans"
    agent.save(update_fields=["language"])
    shot = Shots(SHOTS / "help-zh", fits_screen=False)
    context, page, errors = watched_page(
        browser, wsgi_server=True, viewport={"width": 1280, "height": 800}
    )
    _sign_in_staff(page, live_server.url, agent)
    page.goto(f"{live_server.url}/admin/tickets/ticket/{tickets[2].pk}/change/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.keyboard.press("?")
    dialog = page.locator("#kbd-help")
    assert dialog.evaluate("d => d.open")
    assert page.get_by_role("dialog").count() == 1
    text = dialog.inner_text()
    for words in ("公开回复", "内部备注", "修改状态", "预设回复", "发送", "关闭"):
        assert words in text, words
    assert _focused(page) == "kbd-help-close"
    # The focus stays in the dialog.
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('kbd-help').contains(document.activeElement)")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.getElementById('kbd-help').contains(document.activeElement)")
    shot(page, "help-dialog", full_page=False)
    # Keys do nothing while it is open; Esc closes it and the focus comes back.
    page.keyboard.press("r")
    assert dialog.evaluate("d => d.open")
    page.keyboard.press("Escape")
    assert not dialog.evaluate("d => d.open")
    page.keyboard.press("r")
    assert _focused(page) == "reply_body"
    # The button opens it too, and Close closes it.
    page.keyboard.press("Escape")
    page.locator(".kbd-hint button").click()
    assert dialog.evaluate("d => d.open")
    page.locator("#kbd-help-close").click()
    assert not dialog.evaluate("d => d.open")
    assert errors == []
    context.close()
