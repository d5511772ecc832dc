"""The live workspace in a real browser: two agents and a customer against a Daphne server.

A Daphne process (WebSockets) runs against the test database, on Redis when REDIS_URL is set
(the in-memory layer otherwise). Agent A watches the open list: a ticket the customer files
in the portal appears without a reload, and turns red when the SLA scan records its breach.
On the ticket page A sees the customer's new message arrive, sees agent B viewing and then
replying, and A's reply on the now stale version is refused with B's reply shown and the
draft kept; sent again, it goes out. Screenshots go to var/browser/live/.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from chat.tests.servers import daphne_servers
from testsupport import PASSWORD, add_totp, browser_marks, current_code

SHOTS = Path(settings.VAR_DIR) / "browser" / "live"

pytestmark = browser_marks()


def test_two_agents_and_a_customer_live(
    browser, tmp_path, make_customer, make_unit, queue_setup, sla_setup
):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User
    from tickets.models import Message, SLATimer, Target, Ticket
    from tickets.services import escalation
    from tickets.services import tickets as svc

    _queue, _lead, agents = queue_setup
    a, b = agents[0], agents[1]
    User.objects.filter(pk=a.pk).update(full_name="Lin Wei")
    User.objects.filter(pk=b.pk).update(full_name="Wang Li")
    for agent in (a, b):
        add_totp(agent)
    customer = make_customer(language="en")
    unit = make_unit(customer.organisation)
    hashed = PBKDF2PasswordHasher().encode(PASSWORD, "browsertestsalt", iterations=1000)
    User.objects.filter(pk__in=[a.pk, b.pk, customer.pk]).update(password=hashed)
    # Something already on the list: a premium P1, 30 minutes to answer around the clock.
    older = svc.ticket_open(
        actor=customer,
        organisation=customer.organisation,
        requester=customer,
        unit=unit,
        subject="Older ticket",
        body="Wire feed slips.",
        priority=1,
    )
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    shots = iter(range(1, 100))
    redis = bool(settings.REDIS_URL)

    def shot(page, name):
        path = SHOTS / f"{next(shots):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")  # noqa: T201

    errors: list[str] = []

    def watch(page):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on(
            "response",
            lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )

    def sign_in(page, base, user):
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_email", user.email)
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
        if user.is_staff:
            page.fill("#id_token", current_code(TOTPDevice.objects.get(user=user)))
            with page.expect_navigation():
                page.locator("main form button[type=submit]").click()

    with daphne_servers(1, tmp_path, redis=redis) as (port,):
        base = f"http://127.0.0.1:{port}"
        size = {"width": 1366, "height": 900}
        context_a = browser.new_context(viewport=size)
        context_b = browser.new_context(viewport=size)
        context_c = browser.new_context(viewport={"width": 390, "height": 844})
        agent_a, agent_b, portal = context_a.new_page(), context_b.new_page(), context_c.new_page()
        for page in (agent_a, agent_b, portal):
            watch(page)

        # A watches the list of open tickets. Its countdowns tick in the page: 31 minutes on
        # (the page's clock), the P1's 30 minutes are up and it shows overdue.
        sign_in(agent_a, base, a)
        agent_a.clock.install()
        agent_a.goto(f"{base}/admin/tickets/ticket/?status__exact=new")
        agent_a.evaluate("window.notReloaded = true")
        countdown = agent_a.locator(f'tr[data-ticket="{older.pk}"] span.sla')
        assert "sla-ok" in countdown.get_attribute("class") or "sla-warning" in (
            countdown.get_attribute("class")
        )
        shot(agent_a, "a-list")
        agent_a.clock.fast_forward("31:00")
        agent_a.locator(f'tr[data-ticket="{older.pk}"] span.sla-overdue').wait_for(timeout=5000)
        assert "overdue" in countdown.inner_text()
        shot(agent_a, "a-list-countdown-ticked")

        # The customer files a fault report in the portal; it appears on A's list.
        sign_in(portal, base, customer)
        portal.goto(f"{base}/portal/tickets/new/")
        portal.select_option("#id_unit", str(unit.pk))
        portal.locator("label[for=id_production_2]").click()  # not affected: stays P3
        portal.locator("label[for=id_safety_risk_1]").click()
        portal.fill("#id_subject", "Laser stops mid-seam")
        portal.fill("#id_body", "The laser stops in the middle of every seam since 8:00.")
        with portal.expect_navigation():
            portal.locator("main form button[type=submit]").last.click()
        ticket = Ticket.objects.get(subject="Laser stops mid-seam")
        row = agent_a.locator(f'tr[data-ticket="{ticket.pk}"]')
        row.wait_for(timeout=10000)
        assert "Laser stops mid-seam" in row.inner_text()
        assert agent_a.evaluate("window.notReloaded === true")
        assert row.locator("span.sla-overdue").count() == 0
        shot(agent_a, "a-list-new-ticket")

        # Its first response falls due an hour ago; the SLA scan records the breach.
        past = timezone.now() - dt.timedelta(hours=1)
        Ticket.objects.filter(pk=ticket.pk).update(first_response_due=past)
        SLATimer.objects.filter(ticket=ticket, target=Target.FIRST_RESPONSE).update(fire_at=past)
        assert escalation.sla_scan()["breaches"] == 1
        if not redis:
            # The in-memory layer lives in the Daphne process, which the scan here cannot
            # reach: a change made through the server re-renders the row instead.
            portal.goto(f"{base}/portal/tickets/{ticket.reference}/")
            portal.fill("#id_body", "Any news?")
            with portal.expect_navigation():
                portal.locator("form:has(input[value=reply]) button[type=submit]").click()
        row.locator("span.sla-overdue").wait_for(timeout=10000)
        assert agent_a.evaluate("window.notReloaded === true")
        shot(agent_a, "a-list-breached")

        # A opens the ticket; the customer writes; the message appears on A's page.
        agent_a.goto(f"{base}/admin/tickets/ticket/{ticket.pk}/change/")
        agent_a.evaluate("window.notReloaded = true")
        agent_a.wait_for_timeout(500)  # the socket is open and watching
        portal.goto(f"{base}/portal/tickets/{ticket.reference}/")
        portal.fill("#id_body", "It happens with the 2 mm steel only.")
        with portal.expect_navigation():
            portal.locator("form:has(input[value=reply]) button[type=submit]").click()
        arrived = agent_a.locator("ol.conversation li", has_text="with the 2 mm steel only")
        arrived.wait_for(timeout=10000)
        assert agent_a.evaluate("window.notReloaded === true")
        shot(agent_a, "a-ticket-customer-message")

        # A reloads (the page said the ticket changed); B opens it: each sees the other.
        agent_a.reload()
        sign_in(agent_b, base, b)
        agent_b.goto(f"{base}/admin/tickets/ticket/{ticket.pk}/change/")
        notice_a = agent_a.locator("#desk-live-notice")
        notice_a.get_by_text("Wang Li is viewing this ticket").wait_for(timeout=10000)
        agent_b.locator("#desk-live-notice").get_by_text("Lin Wei is viewing this ticket").wait_for(
            timeout=10000
        )
        shot(agent_a, "a-sees-b-viewing")
        agent_b.locator("#reply-box textarea[name=body]").press_sequentially("Please send")
        notice_a.get_by_text("Wang Li is replying").wait_for(timeout=10000)
        shot(agent_a, "a-sees-b-replying")
        shot(agent_b, "b-replying")

        # A drafts a reply; B sends first. A is warned, then refused with B's reply shown.
        draft = "Replace the protective window, then try again."
        agent_a.fill("#reply-box textarea[name=body]", draft)
        agent_b.locator("#reply-box textarea[name=body]").fill("Please send a photo of the nozzle.")
        with agent_b.expect_navigation():
            agent_b.locator("#reply-box input[type=submit]").click()
        notice_a.get_by_text("This ticket changed since you opened it.").wait_for(timeout=10000)
        agent_a.locator("#reply-box input[type=submit]").click()  # warned, not sent
        notice_a.get_by_text("Press the button again to send.", exact=False).wait_for(timeout=5000)
        shot(agent_a, "a-warned-before-sending")
        with agent_a.expect_navigation():
            agent_a.locator("#reply-box input[type=submit]").click()
        refusal = agent_a.locator("#stale-changes")
        refusal.wait_for(timeout=5000)
        assert "Wang Li" in refusal.inner_text()
        assert "Please send a photo of the nozzle." in refusal.inner_text()
        assert agent_a.locator("#reply-box textarea[name=body]").input_value() == draft
        assert not Message.objects.filter(ticket=ticket, author=a).exists()
        shot(agent_a, "a-stale-reply-refused")
        with agent_a.expect_navigation():
            agent_a.locator("#reply-box input[type=submit]").click()
        assert [m.body for m in Message.objects.filter(ticket=ticket, author=a)] == [draft]
        shot(agent_a, "a-sent-on-the-new-version")

        assert not errors, errors
        for context in (context_a, context_b, context_c):
            context.close()
