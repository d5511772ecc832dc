"""The agents' workspace in the admin: queue list, ticket page, bulk actions, survey scores."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Region
from accounts.services import user_set_access
from audit.models import AuditEvent
from notifications.models import Outbox
from tickets import selectors
from tickets.admin import TicketAdmin
from tickets.admin_list import QueueListFilter, ticket_rows
from tickets.models import (
    Attachment,
    CannedResponse,
    Message,
    Queue,
    QueueMember,
    Status,
    Survey,
    Ticket,
)
from tickets.services import escalation, surveys
from tickets.services import tickets as svc
from tickets.tests.conftest import at

CHANGELIST = "/admin/tickets/ticket/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PUBLIC = {"visibility": "public"}


def page(ticket: Ticket) -> str:
    return f"/admin/tickets/ticket/{ticket.pk}/change/"


def png(name: str = "seam.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


def row(content: str, reference: str) -> str:
    """Return the changelist row (<tr>...</tr>) that shows a reference."""
    for match in re.finditer(r"<tr\b.*?</tr>", content, re.S):
        if reference in match.group(0):
            return match.group(0)
    raise AssertionError(f"{reference} is not in the list")


def listed(response) -> set[str]:
    return {t.reference for t in response.context["cl"].result_list}


def select_options(content: str, name: str) -> list[str]:
    match = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', content, re.S)
    assert match, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"', match.group(1))


def audited(action: str, ticket: Ticket) -> int:
    return AuditEvent.objects.filter(action=action, target_id=str(ticket.pk)).count()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def minutes_ago():
    def make(minutes: float) -> dt.datetime:
        return timezone.now() - dt.timedelta(minutes=minutes)

    return make


# ------------------------------------------------------------------- the queue list


def test_changelist_shows_columns_and_sla_countdowns(
    agent_client, open_ticket, queue_setup, make_customer, minutes_ago
):
    client, _me = agent_client
    agent = queue_setup[2][0]
    customer = make_customer()
    # Premium P1 runs around the clock: first response within 30 minutes.
    fresh = open_ticket(customer, priority=1, now=minutes_ago(10))  # 20 of 30 min left
    close = open_ticket(customer, priority=1, now=minutes_ago(25))  # 5 of 30 min left
    late = open_ticket(customer, priority=3, now=at(2026, 3, 2, 9, 0))  # long overdue
    waiting = open_ticket(customer, priority=1, now=minutes_ago(10))
    svc.ticket_transition(ticket=waiting, status=Status.WAITING, actor=agent)
    done = open_ticket(customer, priority=1, now=minutes_ago(10))
    svc.ticket_reply(ticket=done, author=agent, body="Replace the nozzle.")
    svc.ticket_transition(ticket=done, status=Status.RESOLVED, actor=agent)
    missed = open_ticket(customer, priority=3, now=at(2026, 3, 2, 9, 0))
    svc.ticket_transition(ticket=missed, status=Status.RESOLVED, actor=agent)

    response = client.get(CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'class="sla sla-ok"' in row(content, fresh.reference)
    assert re.search(r"(19|20)m left", row(content, fresh.reference))
    assert re.search(r'title="First response due [^"]*\d{4}[^"]*"', row(content, fresh.reference))
    assert 'class="sla sla-warning"' in row(content, close.reference)
    assert 'class="sla sla-overdue"' in row(content, late.reference)
    assert "overdue" in row(content, late.reference)
    paused = row(content, waiting.reference)
    assert 'class="sla sla-paused"' in paused and "paused" in paused
    assert 'class="sla sla-met"' in row(content, done.reference)
    assert 'class="sla sla-missed"' in row(content, missed.reference)
    first = row(content, fresh.reference)
    for shown in (fresh.subject, customer.organisation.name, "East handheld", "New"):
        assert html.escape(shown) in first
    assert 'class="prio prio-1"' in first
    assert fresh.assignee.full_name in first
    assert "/static/tickets/workspace.css" in content
    # Colours come from classes in the static stylesheet, never from inline styles.
    assert "style=" not in first


def test_countdown_follows_the_running_target_not_past_breaches(
    open_ticket, minutes_ago, queue_setup
):
    from tickets.services.escalation import sla_scan

    ticket = open_ticket(priority=1, now=minutes_ago(40))  # first response (30 min) is late
    sla_scan()
    ticket = Ticket.objects.select_related("sla_policy__calendar").get(pk=ticket.pk)
    assert ticket.sla_breached and selectors.sla_countdown(ticket).state == "overdue"
    svc.ticket_reply(ticket=ticket, author=queue_setup[2][0], body="On my way.")
    ticket = Ticket.objects.select_related("sla_policy__calendar").get(pk=ticket.pk)
    countdown = selectors.sla_countdown(ticket)
    # The breach stays on record, but the clock now runs for resolution, with time left.
    assert ticket.sla_breached and ticket.first_response_met is False
    assert countdown.target == "resolution" and countdown.state in ("ok", "warning")


def test_each_filter_narrows_the_list(agent_client, open_ticket, queue_setup, region):
    client, me = agent_client
    _queue, supervisor, agents = queue_setup
    other_queue = Queue.objects.create(name="Spare parts", slug="parts", region=region)
    a = open_ticket(priority=1)
    b = open_ticket(priority=3)
    c = open_ticket(priority=3)
    svc.ticket_update(ticket=b, actor=supervisor, queue=other_queue)
    svc.ticket_transition(ticket=c, status=Status.WAITING, actor=agents[0])
    svc.ticket_assign(ticket=a, agent=me, actor=supervisor)
    svc.ticket_assign(ticket=c, agent=None, actor=supervisor)
    # At 14:01 on the opening day a's (30 min) and b's (4 h) first responses are late;
    # c is paused, so nothing of it fires.
    escalation.sla_scan(now=at(2026, 3, 2, 14, 1))
    everything = {a.reference, b.reference, c.reference}
    assert listed(client.get(CHANGELIST)) == everything
    assert listed(client.get(CHANGELIST, {"queue__id__exact": other_queue.pk})) == {b.reference}
    assert listed(client.get(CHANGELIST, {"status__exact": "waiting"})) == {c.reference}
    assert listed(client.get(CHANGELIST, {"priority__exact": "1"})) == {a.reference}
    breached = {t.reference for t in Ticket.objects.filter(sla_breached=True)}
    assert breached and breached != everything
    assert listed(client.get(CHANGELIST, {"sla_breached__exact": "1"})) == breached
    assert listed(client.get(CHANGELIST, {"assigned": "mine"})) == {a.reference}
    assert listed(client.get(CHANGELIST, {"assigned": "unassigned"})) == {c.reference}


def test_search_by_reference_serial_and_requester_email(
    agent_client, open_ticket, make_customer, make_unit
):
    client, _me = agent_client
    huang = make_customer(email="huang.li@jinchuan.example")
    other = make_customer(email="someone.else@jinchuan.example")
    unit = make_unit(huang.organisation)
    by_huang = open_ticket(huang, unit=unit, subject="Wire feeder jams")
    second = open_ticket(huang, unit=False, subject="Lens question")
    stranger = open_ticket(make_customer(), subject="Cooling alarm")

    assert listed(client.get(CHANGELIST, {"q": stranger.reference})) == {stranger.reference}
    assert listed(client.get(CHANGELIST, {"q": unit.serial_number})) == {by_huang.reference}
    found = listed(client.get(CHANGELIST, {"q": "  Huang.Li@Jinchuan.EXAMPLE "}))
    assert found == {by_huang.reference, second.reference}
    # Another person's email (a customer with no tickets) and an unknown email find nothing.
    assert listed(client.get(CHANGELIST, {"q": other.email})) == set()
    assert listed(client.get(CHANGELIST, {"q": "nobody@jinchuan.example"})) == set()


def test_staff_of_another_region_cannot_see_or_open_the_ticket(staff_client, open_ticket):
    ticket = open_ticket()  # an East China customer
    client, north_agent = staff_client(regions=[Region.objects.get(code="north")])
    assert ticket.reference not in listed(client.get(CHANGELIST))
    assert client.get(page(ticket)).status_code == 404
    assert client.post(page(ticket), {"operation": "reply", "body": "x"}).status_code == 404
    assert AuditEvent.objects.filter(
        action="access.denied", actor_ref=f"user:{north_agent.pk}", target_id=str(ticket.pk)
    ).exists()
    assert Message.objects.filter(ticket=ticket).count() == 1


def test_no_add_no_delete_and_no_direct_field_editing(agent_client, open_ticket):
    client, _me = agent_client
    ticket = open_ticket()
    assert client.get("/admin/tickets/ticket/add/").status_code == 403
    assert client.get(f"/admin/tickets/ticket/{ticket.pk}/delete/").status_code == 403
    response = client.post(
        page(ticket), {"subject": "Changed behind the services", "status": "closed"}, follow=True
    )
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.subject == "Porosity in stainless seams" and ticket.status == Status.NEW


# ------------------------------------------------------------------- the ticket page


def test_ticket_page_shows_conversation_unit_fault_report_and_sla(
    agent_client, open_ticket, queue_setup, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client, _me = agent_client
    agent = queue_setup[2][0]
    from equipment.models import FaultCode

    code = FaultCode.objects.create(
        code="E512", title_en="Safety interlock open", title_zh="安全联锁断开", severity="critical"
    )
    ticket = open_ticket(
        fault_report={"fault_code": code, "laser_power_w": 1500, "shielding_gas": "argon"},
        attachments=[png("first seam.png")],
        tags=["porosity", "stainless"],
    )
    svc.ticket_reply(ticket=ticket, author=agent, body="Check the gas hose.")
    svc.ticket_reply(ticket=ticket, author=agent, body="Customer sounds upset.", internal=True)

    response = client.get(page(ticket))
    assert response.status_code == 200
    content = response.content.decode()
    assert re.search(r'class="msg msg-customer"', content)
    assert re.search(r'class="msg msg-agent"[^>]*>.*?Check the gas hose', content, re.S)
    assert re.search(r'class="msg msg-internal"[^>]*>.*?Customer sounds upset', content, re.S)
    assert "Internal note" in content and agent.full_name in content
    attachment = Attachment.objects.get(ticket=ticket)
    assert f'href="/tickets/attachments/{attachment.pk}/"' in content
    assert "first seam.png" in content
    assert "E512" in content and "Safety interlock open" in content
    assert "1500" in content and "Argon" in content
    assert ticket.unit.serial_number in content
    assert 'class="warranty warranty-' in content
    assert "porosity" in content and "stainless" in content
    assert "First response" in content and "Resolution" in content
    # The page's script is a static file: no inline script, no inline handler (CSP).
    assert "/static/tickets/workspace.js" in content
    for tag in re.findall(r"<script\b[^>]*>", content):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+=", content)
    # The download link is permission-checked and works for the agent.
    assert client.get(f"/tickets/attachments/{attachment.pk}/").status_code == 200


def test_public_reply_is_sent_and_audited(agent_client, open_ticket, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client, me = agent_client
    ticket = open_ticket()
    response = client.post(
        page(ticket),
        {
            "operation": "reply",
            "version": ticket.version,
            "body": "Please replace the protective lens.",
            "visibility": "public",
            "attachments": [png("a.png"), png("b.png")],
        },
    )
    assert response.status_code == 302
    message = Message.objects.get(ticket=ticket, author=me)
    assert message.internal is False and message.body == "Please replace the protective lens."
    assert sorted(a.original_name for a in message.attachments.all()) == ["a.png", "b.png"]
    assert audited("ticket.replied", ticket) == 1
    assert Outbox.objects.filter(key=f"ticket-reply:{message.pk}:email").exists()
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN and ticket.first_responded_at is not None
    followed = client.get(response["Location"])
    assert "Your reply was sent to the customer." in messages_of(followed)


def test_internal_note_is_not_sent_to_the_customer(agent_client, open_ticket):
    client, me = agent_client
    ticket = open_ticket()
    response = client.post(
        page(ticket),
        {
            "operation": "reply",
            "version": ticket.version,
            "body": "Known issue with batch 7.",
            "visibility": "internal",
        },
    )
    assert response.status_code == 302
    note = Message.objects.get(ticket=ticket, author=me)
    assert note.internal is True
    assert audited("ticket.note_added", ticket) == 1
    assert audited("ticket.replied", ticket) == 0
    assert not Outbox.objects.filter(key__startswith="ticket-reply:").exists()
    ticket.refresh_from_db()
    assert ticket.first_responded_at is None  # a note is no response to the customer


def test_stale_page_gets_a_message_and_writes_nothing(agent_client, open_ticket, queue_setup):
    client, _me = agent_client
    supervisor = queue_setup[1]
    ticket = open_ticket()
    seen = ticket.version
    svc.ticket_set_priority(ticket=ticket, priority=2, actor=supervisor)  # someone else
    response = client.post(
        page(ticket),
        {"operation": "reply", "version": seen, "body": "My draft answer", "visibility": "public"},
    )
    assert response.status_code == 200
    assert any("changed by someone else" in m for m in messages_of(response))
    assert Message.objects.filter(ticket=ticket).count() == 1
    # The draft survives, with the current version, so a deliberate resend works.
    content = response.content.decode()
    assert "My draft answer" in content
    ticket.refresh_from_db()
    assert f'name="version" value="{ticket.version}"' in content
    for operation, data in (
        ("status", {"status": "waiting"}),
        ("priority", {"priority": "1"}),
        ("assign", {"assignee": ""}),
    ):
        response = client.post(page(ticket), {"operation": operation, "version": seen, **data})
        assert response.status_code == 200
        assert any("changed by someone else" in m for m in messages_of(response))
    after = Ticket.objects.get(pk=ticket.pk)
    assert (after.status, after.priority, after.assignee_id, after.version) == (
        ticket.status,
        2,
        ticket.assignee_id,
        ticket.version,
    )


def test_refusals_become_messages_not_errors(agent_client, open_ticket, queue_setup):
    client, _me = agent_client
    ticket = open_ticket()
    svc.ticket_transition(ticket=ticket, status=Status.CLOSED, actor=queue_setup[2][0])
    ticket.refresh_from_db()
    response = client.post(
        page(ticket),
        {"operation": "reply", "version": ticket.version, "body": "Hello", "visibility": "public"},
    )
    assert response.status_code == 200
    assert any("is closed" in m for m in messages_of(response))
    empty = client.post(
        page(ticket),
        {"operation": "reply", "version": ticket.version, "body": "  ", "visibility": "public"},
    )
    assert empty.status_code == 200 and "Write a message." in messages_of(empty)
    # Without a choice of public or internal nothing is sent (no silent default).
    unsure = client.post(
        page(ticket), {"operation": "reply", "version": ticket.version, "body": "Hi"}
    )
    assert "Please correct the form." in messages_of(unsure)
    bad = client.post(page(ticket), {"operation": "priority", "version": "x", "priority": "9"})
    assert bad.status_code == 200 and "Please correct the form." in messages_of(bad)
    assert Message.objects.filter(ticket=ticket).count() == 1


def test_canned_response_fills_the_picker_and_expands_without_js(
    agent_client, open_ticket, make_customer
):
    client, me = agent_client
    canned = CannedResponse.objects.create(
        title="Ask for photos",
        body_en=(
            "Hello {requester_name}, please send photos for {reference}. {unknown} — {agent_name}"
        ),
        body_zh="{requester_name}您好，请为{reference}发送照片。— {agent_name}",
    )
    CannedResponse.objects.create(title="Retired", body_en="old", is_active=False)
    customer = make_customer(full_name="Wang Jianguo")
    ticket = open_ticket(customer)
    content = html.unescape(client.get(page(ticket)).content.decode())
    expected = (
        f"Hello Wang Jianguo, please send photos for {ticket.reference}. {{unknown}} — Lin Agent"
    )
    assert f'data-body="{expected}"' in content
    assert "Retired" not in content
    response = client.post(
        page(ticket),
        {
            "operation": "reply",
            "version": ticket.version,
            "body": "",
            "canned": canned.pk,
            **PUBLIC,
        },
    )
    assert response.status_code == 302
    assert Message.objects.get(ticket=ticket, author=me).body == expected
    # A body the agent wrote wins over the picker.
    ticket.refresh_from_db()
    client.post(
        page(ticket),
        {
            "operation": "reply",
            "version": ticket.version,
            "body": "Own words",
            "canned": canned.pk,
            **PUBLIC,
        },
    )
    assert Message.objects.filter(ticket=ticket, author=me).last().body == "Own words"
    # A Chinese-speaking requester gets the Chinese text.
    zh = make_customer(full_name="王建国", language="zh-hans")
    zh_ticket = open_ticket(zh)
    client.post(
        page(zh_ticket),
        {
            "operation": "reply",
            "version": zh_ticket.version,
            "body": "",
            "canned": canned.pk,
            **PUBLIC,
        },
    )
    assert Message.objects.get(ticket=zh_ticket, author=me).body == (
        f"王建国您好，请为{zh_ticket.reference}发送照片。— Lin Agent"
    )


def test_status_form_offers_only_legal_transitions(agent_client, open_ticket, queue_setup):
    client, _me = agent_client
    agent = queue_setup[2][0]
    ticket = open_ticket()
    content = client.get(page(ticket)).content.decode()
    legal = set(svc.TRANSITIONS[Status.NEW])
    assert set(select_options(content, "status")) == legal
    response = client.post(
        page(ticket), {"operation": "status", "version": ticket.version, "status": "waiting"}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING and ticket.sla_paused_at is not None
    assert audited("ticket.status_changed", ticket) == 1
    svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent)
    ticket.refresh_from_db()
    content = client.get(page(ticket)).content.decode()
    assert set(select_options(content, "status")) == {"open", "closed"}
    # An illegal status is refused by the form (not offered), and nothing changes.
    refused = client.post(
        page(ticket), {"operation": "status", "version": ticket.version, "status": "on_hold"}
    )
    assert refused.status_code == 200 and "Please correct the form." in messages_of(refused)
    assert Ticket.objects.get(pk=ticket.pk).status == Status.RESOLVED
    svc.ticket_transition(ticket=ticket, status=Status.CLOSED, actor=agent)
    content = client.get(page(ticket)).content.decode()
    assert 'name="status"' not in content


def test_priority_and_assignee_forms(agent_client, open_ticket, queue_setup, make_staff):
    client, me = agent_client
    agents = queue_setup[2]
    gone = make_staff(full_name="Left The Company")
    user_set_access(user=gone, actor=None, is_active=False)
    ticket = open_ticket()
    content = client.get(page(ticket)).content.decode()
    options = select_options(content, "assignee")
    assert str(agents[1].pk) in options and str(gone.pk) not in options

    response = client.post(
        page(ticket), {"operation": "priority", "version": ticket.version, "priority": "1"}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.priority == 1 and audited("ticket.priority_changed", ticket) == 1

    other = next(a for a in agents if a.pk != ticket.assignee_id)
    response = client.post(
        page(ticket), {"operation": "assign", "version": ticket.version, "assignee": other.pk}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.assignee == other
    assert AuditEvent.objects.filter(
        action="ticket.assigned", target_id=str(ticket.pk), actor_ref=f"user:{me.pk}"
    ).exists()
    assert Outbox.objects.filter(
        key=f"ticket-assigned:{ticket.pk}:{ticket.version}:{other.pk}:email"
    ).exists()

    response = client.post(
        page(ticket), {"operation": "assign", "version": ticket.version, "assignee": ""}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.assignee is None
    refused = client.post(
        page(ticket), {"operation": "assign", "version": ticket.version, "assignee": gone.pk}
    )
    assert refused.status_code == 200
    assert Ticket.objects.get(pk=ticket.pk).assignee is None


# ------------------------------------------------------------------- bulk actions


def test_bulk_assign_to_an_agent(agent_client, open_ticket, queue_setup, make_staff):
    client, me = agent_client
    queue, _, agents = queue_setup
    gone = make_staff(full_name="Left The Company")
    user_set_access(user=gone, actor=None, is_active=False)
    a, b, untouched = open_ticket(), open_ticket(), open_ticket()
    # Only active desk agents of the tickets' queue are offered (issue 18).
    QueueMember.objects.create(queue=queue, agent=me)
    chosen = {"action": "assign_to_agent", "_selected_action": [a.pk, b.pk]}
    form = client.post(CHANGELIST, chosen)
    assert form.status_code == 200
    content = form.content.decode()
    assert a.reference in content and b.reference in content
    assert untouched.reference not in content
    options = select_options(content, "agent")
    assert str(agents[2].pk) in options and str(me.pk) in options
    assert str(gone.pk) not in options

    # Routing gave the tickets to queue members; the agent takes both.
    response = client.post(CHANGELIST, {**chosen, "apply": "yes", "agent": me.pk}, follow=True)
    assert "2 tickets assigned." in messages_of(response)
    for ticket in (a, b):
        ticket.refresh_from_db()
        assert ticket.assignee == me
    events = AuditEvent.objects.filter(action="ticket.assigned", actor_ref=f"user:{me.pk}")
    assert sorted(e.target_id for e in events) == sorted([str(a.pk), str(b.pk)])
    untouched_before = untouched.assignee_id
    untouched.refresh_from_db()
    assert untouched.assignee_id == untouched_before


def test_bulk_auto_assign_reports_failures_and_applies_the_rest(
    agent_client, open_ticket, queue_setup
):
    client, me = agent_client
    supervisor = queue_setup[1]
    routed, queueless = open_ticket(), open_ticket()
    svc.ticket_update(ticket=queueless, actor=supervisor, queue=None)
    before = routed.assignee_id
    response = client.post(
        CHANGELIST,
        {"action": "assign_automatically", "_selected_action": [routed.pk, queueless.pk]},
        follow=True,
    )
    notes = messages_of(response)
    assert any(queueless.reference in m and "has no queue" in m for m in notes)
    assert "1 ticket assigned automatically." in notes
    routed.refresh_from_db()
    assert routed.assignee_id not in (None, before)
    assert AuditEvent.objects.filter(
        action="ticket.assigned", target_id=str(routed.pk), actor_ref=f"user:{me.pk}"
    ).exists()


def test_bulk_status_change_applies_legal_and_reports_illegal(
    agent_client, open_ticket, queue_setup
):
    client, me = agent_client
    fresh, closed = open_ticket(), open_ticket()
    svc.ticket_transition(ticket=closed, status=Status.CLOSED, actor=queue_setup[2][0])
    chosen = {"action": "change_status", "_selected_action": [fresh.pk, closed.pk]}
    form = client.post(CHANGELIST, chosen)
    assert form.status_code == 200 and "on_hold" in select_options(form.content.decode(), "status")
    response = client.post(CHANGELIST, {**chosen, "apply": "yes", "status": "on_hold"}, follow=True)
    notes = messages_of(response)
    assert any(closed.reference in m and "cannot go from Closed" in m for m in notes)
    assert "1 ticket changed to On hold." in notes
    assert Ticket.objects.get(pk=fresh.pk).status == Status.ON_HOLD
    assert Ticket.objects.get(pk=closed.pk).status == Status.CLOSED
    assert AuditEvent.objects.filter(
        action="ticket.status_changed", target_id=str(fresh.pk), actor_ref=f"user:{me.pk}"
    ).exists()


def test_bulk_merge_into_the_chosen_ticket(agent_client, open_ticket, make_customer):
    client, me = agent_client
    customer = make_customer()
    keep, dup1, dup2 = (open_ticket(customer, body=f"Pores, report {n}") for n in range(3))
    foreign = open_ticket(make_customer())  # another organisation: cannot be merged
    chosen = {
        "action": "merge_duplicates",
        "_selected_action": [keep.pk, dup1.pk, dup2.pk, foreign.pk],
    }
    form = client.post(CHANGELIST, chosen)
    assert form.status_code == 200
    assert f'value="{keep.pk}"' in form.content.decode()
    response = client.post(CHANGELIST, {**chosen, "apply": "yes", "into": keep.pk}, follow=True)
    notes = messages_of(response)
    assert any("different organisations" in m for m in notes)
    assert f"2 tickets merged into {keep.reference}." in notes
    for dup in (dup1, dup2):
        dup.refresh_from_db()
        assert dup.status == Status.CLOSED and dup.merged_into_id == keep.pk
        assert AuditEvent.objects.filter(
            action="ticket.merged", target_id=str(dup.pk), actor_ref=f"user:{me.pk}"
        ).exists()
    # Its own report, the two moved ones, and one merge note per merged duplicate.
    assert Message.objects.filter(ticket=keep).count() == 3 + 2
    assert Message.objects.filter(ticket=keep, internal=True).count() == 2
    assert Ticket.objects.get(pk=foreign.pk).status == Status.NEW
    single = client.post(
        CHANGELIST, {"action": "merge_duplicates", "_selected_action": [keep.pk]}, follow=True
    )
    assert "Select at least two tickets to merge." in messages_of(single)


# ------------------------------------------------------------------- satisfaction


def _survey(ticket: Ticket, agent, rating: int | None) -> Survey:
    svc.ticket_assign(ticket=ticket, agent=agent, actor=agent)
    svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent)
    survey = Survey.objects.get(ticket=ticket)
    if rating is not None:
        token = signing.dumps(
            {"s": survey.pk, "n": survey.nonce.hex}, salt=surveys.SALT, compress=True
        )
        surveys.survey_answer(token=token, rating=rating)
    return survey


def test_survey_scores_per_agent_and_queue(agent_client, open_ticket, queue_setup, region):
    client, _me = agent_client
    _queue, supervisor, agents = queue_setup
    first, second = agents[0], agents[1]
    for rating in (5, 3, None):
        _survey(open_ticket(), first, rating)
    _survey(open_ticket(), second, 4)
    moved = open_ticket()
    parts = Queue.objects.create(name="Spare parts", slug="parts", region=region)
    svc.ticket_update(ticket=moved, actor=supervisor, queue=parts)
    _survey(moved, second, 1)

    changelist = client.get("/admin/tickets/survey/")
    assert changelist.status_code == 200
    assert "/admin/tickets/survey/scores/" in changelist.content.decode()
    response = client.get("/admin/tickets/survey/scores/", {"period": "all"})
    assert response.status_code == 200
    scores = response.context["scores"]
    by_agent = {row["agent_id"]: row for row in scores["agents"]}
    assert by_agent[first.pk]["sent"] == 3 and by_agent[first.pk]["answered"] == 2
    assert by_agent[first.pk]["average"] == pytest.approx(4.0)
    assert by_agent[first.pk]["response_rate"] == pytest.approx(200 / 3)
    assert dict(by_agent[first.pk]["distribution"]) == {1: 0, 2: 0, 3: 1, 4: 0, 5: 1}
    assert by_agent[second.pk]["average"] == pytest.approx(2.5)
    by_queue = {row["queue__name"]: row for row in scores["queues"]}
    assert by_queue["East handheld"]["sent"] == 4 and by_queue["Spare parts"]["sent"] == 1
    assert scores["total"]["sent"] == 5 and scores["total"]["answered"] == 4
    content = response.content.decode()
    assert first.full_name in content and "4.00" in content and "67 %" in content

    # Staff of another region see none of these surveys.
    north = selectors.survey_scores(
        user=_north_agent(queue_setup), since=timezone.now() - dt.timedelta(days=1)
    )
    assert north["total"]["sent"] == 0 and north["agents"] == []


def _north_agent(queue_setup):
    from accounts.models import User

    agent = User.objects.get(pk=queue_setup[2][2].pk)
    user_set_access(user=agent, actor=None, regions=[Region.objects.get(code="north")])
    return User.objects.get(pk=agent.pk)


def test_survey_scores_cost_a_fixed_number_of_queries(open_ticket, queue_setup, make_staff):
    agents = queue_setup[2]
    viewer = make_staff(roles=("supervisor",))
    _survey(open_ticket(), agents[0], 5)
    selectors.survey_scores(user=viewer)  # reads the viewer's roles once (cached on the user)
    with CaptureQueriesContext(connection) as few:
        selectors.survey_scores(user=viewer)
    for n in range(8):
        _survey(open_ticket(), agents[n % 3], n % 5 + 1)
    with CaptureQueriesContext(connection) as many:
        scores = selectors.survey_scores(user=viewer)
    assert scores["total"]["sent"] == 9
    assert len(few) == len(many)


# ------------------------------------------------------------------- query budgets


def test_changelist_costs_the_same_with_1_and_50_tickets(
    agent_client, open_ticket, queue_setup, make_customer, minutes_ago, django_assert_num_queries
):
    client, _me = agent_client
    agent = queue_setup[2][0]
    customer = make_customer()
    open_ticket(customer)
    client.get(CHANGELIST)  # warm the per-process caches (calendar, content types)
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(CHANGELIST).context["cl"].result_list) == 1
    # 51 tickets: the first page of 50 goes through the paginator, one ticket does not.
    # Every kind of countdown: overdue, running with time left, paused, resolved, unassigned.
    for n in range(50):
        opened = minutes_ago(n) if n % 2 else None
        ticket = open_ticket(customer, priority=n % 4 + 1, now=opened)
        if n % 5 == 1:
            svc.ticket_transition(ticket=ticket, status=Status.WAITING, actor=agent)
        elif n % 5 == 2:
            svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent)
        elif n % 5 == 3:
            svc.ticket_assign(ticket=ticket, agent=None, actor=agent)
    with django_assert_num_queries(len(one)):
        response = client.get(CHANGELIST)
    cl = response.context["cl"]
    assert len(cl.result_list) == 50 and cl.multi_page and cl.result_count == 51
    states = set(re.findall(r'class="sla sla-([a-z]+)"', response.content.decode()))
    assert {"ok", "overdue", "paused", "met"} <= states, states


def test_every_page_lists_what_a_plain_offset_page_would(
    agent_client, open_ticket, queue_setup, make_customer, monkeypatch
):
    client, _me = agent_client
    agent = queue_setup[2][0]
    customer = make_customer()
    # Four tickets share one opening instant, so the order within it rests on the key alone.
    tickets = [
        open_ticket(customer, priority=n % 4 + 1, now=at(2026, 3, 2, 9, 0 if n < 4 else n))
        for n in range(8)
    ]
    for ticket in tickets[1::3]:
        svc.ticket_transition(ticket=ticket, status=Status.WAITING, actor=agent)
    monkeypatch.setattr(TicketAdmin, "list_per_page", 3)
    # As listed, sorted by the priority column (o=2: after the checkbox and the reference),
    # and filtered.
    for params, expected in (
        ({}, 8),
        ({"o": "2"}, 8),
        ({"status__exact": "new"}, 5),
    ):
        seen = []
        for number in range(1, (expected + 2) // 3 + 1):
            cl = client.get(CHANGELIST, {**params, "p": number}).context["cl"]
            shown = [t.reference for t in cl.result_list]
            plain = [t.reference for t in cl.queryset[(number - 1) * 3 : number * 3]]
            assert shown == plain, (params, number)
            seen += shown
        assert len(seen) == len(set(seen)) == expected, params
    by_priority = client.get(CHANGELIST, {"o": "2", "p": 1}).context["cl"].result_list
    assert [t.priority for t in by_priority] == [1, 1, 2]
    # A page past the end: Django's answer, back to the list with an error flag.
    assert client.get(CHANGELIST, {"p": 4}).url == f"{CHANGELIST}?e=1"


def test_rows_load_only_what_the_list_shows(agent_client, open_ticket, make_customer):
    client, _me = agent_client
    ticket = open_ticket(make_customer())
    with CaptureQueriesContext(connection) as queries:
        content = client.get(CHANGELIST).content.decode()
    rows = [
        q["sql"] for q in queries.captured_queries if '"tickets_ticket"."reference"' in q["sql"]
    ]
    assert len(rows) == 1
    # No contact, address or phone is read (nor decrypted) for a list that shows none.
    for column in ("contact_email", "contact_name", "address", '"phone"', "requester_id"):
        assert column not in rows[0], column
    link = f'href="/admin/tickets/ticket/{ticket.pk}/change/?_changelist_filters='
    assert link in content or f'href="/admin/tickets/ticket/{ticket.pk}/change/"' in content


def test_rows_are_the_rows_django_would_render(
    agent_client, open_ticket, queue_setup, make_customer, minutes_ago, monkeypatch
):
    from django.contrib.admin.templatetags.admin_list import results

    client, _me = agent_client
    supervisor, agent = queue_setup[1], queue_setup[2][0]
    customer = make_customer(full_name="<b>Li & Sons</b>")
    running = open_ticket(customer, priority=1, now=minutes_ago(10), subject="Pores <again>")
    open_ticket(customer, priority=3)  # long overdue
    svc.ticket_assign(ticket=open_ticket(customer), agent=None, actor=supervisor)
    svc.ticket_update(ticket=open_ticket(customer), actor=supervisor, queue=None)
    waiting = open_ticket(customer, priority=2, now=minutes_ago(30))
    svc.ticket_transition(ticket=waiting, status=Status.WAITING, actor=agent)
    done = open_ticket(customer, priority=4)
    svc.ticket_transition(ticket=done, status=Status.RESOLVED, actor=agent)
    Ticket.objects.filter(pk=running.pk).update(sla_policy=None)  # "no SLA"
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # both renderings read one clock

    pages = {}
    for params in ({}, {"status__exact": "new", "o": "-2"}):
        response = client.get(CHANGELIST, params)
        cl = response.context["cl"]
        ours = ["".join(row) for row in ticket_rows(cl)]
        assert ours == ["".join(row) for row in results(cl)], params
        content = response.content.decode()
        # Each row names its ticket (the live list and the keyboard find rows by it).
        for ticket, cells in zip(cl.result_list, ours, strict=True):
            tr = f'<tr data-ticket="{ticket.pk}" data-reference="{ticket.reference}">'
            assert f"{tr}{cells}</tr>" in content
        pages[len(params)] = "".join(ours)
    states = set(re.findall(r'class="sla sla-([a-z]+)"', pages[0]))
    assert {"none", "overdue", "paused"} <= states and states & {"met", "missed"}, states
    assert '<td class="field-queue nowrap">-</td>' in pages[0]  # Django's "empty"
    assert '<td class="field-assignee_name">—</td>' in pages[0]
    assert "_changelist_filters=status__exact%3Dnew" in pages[2]
    assert "&lt;b&gt;Li &amp; Sons" not in pages[0]  # a person's name is not on the list
    assert "Pores &lt;again&gt;" in pages[0]


def test_action_checkbox_is_djangos_markup(open_ticket):
    from django.contrib import admin

    ticket = open_ticket()
    model_admin = admin.site._registry[Ticket]
    assert model_admin.action_checkbox(ticket) == admin.ModelAdmin.action_checkbox(
        model_admin, ticket
    )


def test_queue_filter_reads_queues_not_tickets(staff_client, open_ticket, region):
    """The filter offers the queues of the agent's regions and the national ones."""
    north = Region.objects.get(code="north")
    Queue.objects.create(name="East spare parts", slug="east-parts", region=region)
    Queue.objects.create(name="North handheld", slug="north-handheld", region=north)
    Queue.objects.create(name="Cladding", slug="cladding")
    open_ticket()  # in "East handheld"

    def queues(client) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            cl = client.get(CHANGELIST).context["cl"]
        # Django's RelatedOnlyFieldListFilter ran SELECT DISTINCT over every ticket.
        assert not any("DISTINCT" in q["sql"] for q in queries.captured_queries)
        spec = next(f for f in cl.filter_specs if isinstance(f, QueueListFilter))
        return [name for _pk, name in spec.lookup_choices]

    client, _me = staff_client(regions=[region])
    # Queues without tickets are offered too; another region's are not.
    assert queues(client) == ["Cladding", "East handheld", "East spare parts"]
    client.logout()
    supervisor_client, _boss = staff_client(roles=("supervisor",))
    assert queues(supervisor_client) == [
        "Cladding",
        "East handheld",
        "East spare parts",
        "North handheld",
    ]


def test_ticket_page_costs_the_same_with_1_and_50_messages(
    agent_client, open_ticket, queue_setup, settings, tmp_path, django_assert_num_queries
):
    settings.MEDIA_ROOT = tmp_path
    client, _me = agent_client
    agents = queue_setup[2]
    CannedResponse.objects.create(title="Thanks", body_en="Thanks {requester_name}")
    ticket = open_ticket(
        fault_report={"laser_power_w": 1500}, attachments=[png()], tags=["porosity"]
    )
    client.get(page(ticket))
    with CaptureQueriesContext(connection) as one:
        assert client.get(page(ticket)).status_code == 200
    for n in range(49):
        author = ticket.requester if n % 3 == 0 else agents[n % 3]
        svc.ticket_reply(
            ticket=ticket,
            author=author,
            body=f"Message {n}",
            internal=n % 3 == 2,
            attachments=[png(f"photo {n}.png")],
        )
    assert Message.objects.filter(ticket=ticket).count() == 50
    with django_assert_num_queries(len(one)):
        response = client.get(page(ticket))
    assert response.content.decode().count('class="msg ') == 50


def test_a_queue_lists_customers_with_priority_service_first(
    agent_client, open_ticket, queue_setup, make_customer, make_org
):
    """Compensation's priority service: the customer's new tickets lead their queue while
    it lasts; other lists stay newest first."""
    from accounts.services import organisation_priority_set

    client, _me = agent_client
    queue, _supervisor, _agents = queue_setup
    urgent = open_ticket(priority=1)
    favoured_org = make_org("Favoured Co")
    organisation_priority_set(
        organisation=favoured_org,
        until=timezone.now() + dt.timedelta(days=7),
        actor=None,
        reason="compensation.grant:1",
    )
    favoured = open_ticket(make_customer(favoured_org), priority=3, now=at(2026, 3, 1, 9, 0))
    assert favoured.priority_until is not None
    rows = client.get(CHANGELIST, {"queue__id__exact": queue.pk}).context["cl"].result_list
    assert [t.reference for t in rows] == [favoured.reference, urgent.reference]
    Ticket.objects.filter(pk=favoured.pk).update(
        priority_until=timezone.now() - dt.timedelta(minutes=1)
    )
    rows = client.get(CHANGELIST, {"queue__id__exact": queue.pk}).context["cl"].result_list
    assert [t.reference for t in rows] == [urgent.reference, favoured.reference]
