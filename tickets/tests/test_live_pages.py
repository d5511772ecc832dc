"""The live layer over HTTP: rows and messages for the page, countdown data, stale refusals."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Region
from audit.models import AuditEvent, PendingAuditEvent
from tickets.models import Message, Status, Ticket
from tickets.services import tickets as svc

ROWS = "/admin/tickets/ticket/live/rows/"


def news(ticket: Ticket) -> str:
    return f"/admin/tickets/ticket/live/{ticket.pk}/"


def page(ticket: Ticket) -> str:
    return f"/admin/tickets/ticket/{ticket.pk}/change/"


def denied(ticket: Ticket) -> int:
    return sum(
        model.objects.filter(action="access.denied", target_id=str(ticket.pk)).count()
        for model in (AuditEvent, PendingAuditEvent)
    )


# ------------------------------------------------------------------- rows


def test_rows_come_rendered_as_the_list_renders_them(agent_client, open_ticket, monkeypatch):
    from django.utils import timezone

    client, _me = agent_client
    ticket = open_ticket(subject="Pores <again>")
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # both renderings read one clock
    answer = client.get(ROWS, {"pk": ticket.pk}).json()
    assert answer["gone"] == []
    [row] = answer["rows"]
    assert row["pk"] == ticket.pk
    assert row["html"].startswith(
        f'<tr data-ticket="{ticket.pk}" data-reference="{ticket.reference}">'
    )
    assert ticket.reference in row["html"] and "Pores &lt;again&gt;" in row["html"]
    listed = client.get("/admin/tickets/ticket/").content.decode()
    assert row["html"] in listed  # the same markup as the list itself


def test_rows_that_no_longer_match_the_list_are_gone(agent_client, open_ticket, queue_setup):
    client, _me = agent_client
    agent = queue_setup[2][0]
    ticket = open_ticket()
    svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent)
    answer = client.get(ROWS, {"pk": ticket.pk, "list": "status__exact=new"}).json()
    assert answer == {"rows": [], "gone": [ticket.pk]}
    answer = client.get(ROWS, {"pk": ticket.pk, "list": "status__exact=resolved"}).json()
    assert [r["pk"] for r in answer["rows"]] == [ticket.pk]
    # The list's filters stay on the row's link, as on the list.
    assert "_changelist_filters=status__exact%3Dresolved" in answer["rows"][0]["html"]


def test_a_foreign_ticket_is_a_404_and_audited(staff_client, open_ticket):
    client, _north = staff_client(regions=[Region.objects.get(code="north")])
    ticket = open_ticket()
    assert client.get(ROWS, {"pk": ticket.pk}).status_code == 404
    assert client.get(news(ticket)).status_code == 404
    assert denied(ticket) == 2


def test_bad_requests_are_400(agent_client, open_ticket):
    client, _me = agent_client
    ticket = open_ticket()
    assert client.get(ROWS).status_code == 400
    assert client.get(ROWS, {"pk": "x"}).status_code == 400
    assert client.get(ROWS, {"pk": list(range(1, 52))}).status_code == 400
    assert client.get(ROWS, {"pk": ticket.pk, "list": "nosuchfield=1"}).status_code == 400
    assert client.get(news(ticket), {"after": "-1"}).status_code == 400


def test_customers_and_anonymous_get_no_rows(client, make_customer, open_ticket):
    ticket = open_ticket()
    assert client.get(ROWS, {"pk": ticket.pk}).status_code == 302  # to the admin sign-in
    client.force_login(make_customer())
    assert client.get(ROWS, {"pk": ticket.pk}).status_code == 302


def test_rows_cost_the_same_for_1_and_50_tickets(agent_client, open_ticket, make_customer):
    client, _me = agent_client
    customer = make_customer()
    tickets = [open_ticket(customer) for _ in range(50)]
    client.get(ROWS, {"pk": tickets[0].pk})  # warm per-process caches
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(ROWS, {"pk": tickets[0].pk}).json()["rows"]) == 1
    with CaptureQueriesContext(connection) as fifty:
        answer = client.get(ROWS, {"pk": [t.pk for t in tickets], "list": "status__exact=new"})
        assert len(answer.json()["rows"]) == 50
    assert len(one) == len(fifty), [q["sql"] for q in fifty]


# ------------------------------------------------------------------- the ticket page's news


def test_new_messages_come_rendered_after_the_last_one_seen(
    agent_client, open_ticket, make_customer
):
    client, _me = agent_client
    ticket = open_ticket()
    first = ticket.messages.get()
    svc.ticket_reply(ticket=ticket, author=ticket.requester, body="Line one\nline <two>")
    answer = client.get(news(ticket), {"after": first.pk}).json()
    assert answer["version"] == Ticket.objects.get(pk=ticket.pk).version
    [message] = answer["messages"]
    assert 'id="message-' in message["html"] and "Line one<br>line &lt;two&gt;" in message["html"]
    assert 'class="sla sla-' in answer["countdown"]
    assert client.get(news(ticket), {"after": message["pk"]}).json()["messages"] == []
    page_html = client.get(page(ticket)).content.decode()
    assert message["html"].strip() in page_html  # one rendering path


def test_news_cost_the_same_for_1_and_50_messages(agent_client, open_ticket):
    client, _me = agent_client
    ticket = open_ticket()
    for n in range(50):
        svc.ticket_reply(ticket=ticket, author=ticket.requester, body=f"Message {n}")
    last = Message.objects.filter(ticket=ticket).order_by("-pk")[:2]
    client.get(news(ticket), {"after": last[1].pk})
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(news(ticket), {"after": last[1].pk}).json()["messages"]) == 1
    with CaptureQueriesContext(connection) as fifty:
        first = ticket.messages.order_by("pk").first()
        assert len(client.get(news(ticket), {"after": first.pk}).json()["messages"]) == 50
    assert len(one) == len(fifty), [q["sql"] for q in fifty]


# ------------------------------------------------------------------- countdown data


def test_running_countdowns_carry_what_the_page_ticks_from(agent_client, open_ticket):
    client, _me = agent_client
    from django.utils import timezone

    ticket = open_ticket(priority=1, now=timezone.now())
    content = client.get("/admin/tickets/ticket/").content.decode()
    span = re.search(rf'data-ticket="{ticket.pk}"[^>]*>.*?(<span class="sla[^>]*>)', content, re.S)
    attrs = dict(re.findall(r'data-(left|warn|runs)="([^"]*)"', span.group(1)))
    assert set(attrs) == {"left", "warn", "runs"}
    assert 0 < int(attrs["left"]) <= 30 * 60 and int(attrs["warn"]) > 0
    # A premium P1 runs around the clock: the page ticks for ever (empty).
    assert attrs["runs"] == ""
    waiting = open_ticket()
    svc.ticket_transition(ticket=waiting, status=Status.WAITING, actor=ticket.assignee)
    content = client.get(page(waiting)).content.decode()
    paused = re.search(r'<span class="sla sla-paused"[^>]*>', content).group(0)
    assert "data-left" not in paused  # a paused clock does not tick


def test_business_hours_countdowns_tick_only_to_the_end_of_working_time(open_ticket):
    from django.utils import timezone

    from tickets import selectors
    from tickets.tests.conftest import at

    ticket = open_ticket(priority=3, now=at(2026, 3, 2, 9, 0))  # a Monday, business hours
    ticket = Ticket.objects.select_related("sla_policy__calendar").get(pk=ticket.pk)
    assert ticket.sla_policy.clock == "business"
    working = selectors.sla_countdown(ticket, now=at(2026, 3, 2, 10, 0))
    assert 0 < working.runs_for <= 8 * 3600
    night = selectors.sla_countdown(ticket, now=at(2026, 3, 2, 23, 0))
    assert night.runs_for == 0
    assert timezone.is_aware(working.due)


# ------------------------------------------------------------------- stale changes


def _seen(client, ticket) -> tuple[str, str]:
    content = client.get(page(ticket)).content.decode()
    seen = re.search(r'name="seen" value="(\d+)"', content).group(1)
    version = re.search(r'name="version" value="(\d+)"', content).group(1)
    return seen, version


def test_a_stale_reply_shows_the_other_change_and_keeps_the_draft(
    staff_client, open_ticket, queue_setup
):
    client, me = staff_client(full_name="Lin Agent")
    other = queue_setup[2][1]  # "Agent n", another agent of the queue
    ticket = open_ticket()
    seen, version = _seen(client, ticket)
    svc.ticket_reply(ticket=ticket, author=other, body="Please send a photo of the nozzle.")
    svc.ticket_transition(ticket=ticket, status=Status.WAITING, actor=other)
    draft = {
        "operation": "reply",
        "version": version,
        "seen": seen,
        "body": "Replace the protective window.",
        "visibility": "public",
    }
    response = client.post(page(ticket), draft)
    assert response.status_code == 200  # refused: the page again, nothing saved
    content = response.content.decode()
    assert all(not m.body.startswith("Replace") for m in Message.objects.all())
    changes = re.search(r'<section class="module stale-changes".*?</section>', content, re.S)
    assert changes, "the refusal lists what changed"
    text = changes.group(0)
    assert other.full_name in text
    assert "set the status to Waiting for customer" in text or "Waiting" in text
    assert "Please send a photo of the nozzle." in text
    assert "Replace the protective window.</textarea>" in content  # the draft is kept
    # The message says what happened, not to reload (that would lose the draft).
    said = [str(m) for m in response.context["messages"]]
    assert said == [f"{ticket.reference} was changed by someone else while you had it open."]
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert f'name="version" value="{fresh.version}"' in content
    # Sent again on the new version, it goes out.
    new_seen = re.search(r'name="seen" value="(\d+)"', content).group(1)
    again = client.post(page(ticket), {**draft, "version": fresh.version, "seen": new_seen})
    assert again.status_code == 302
    mine = [m.body for m in Message.objects.filter(author=me)]
    assert mine == ["Replace the protective window."]


def test_a_stale_status_change_is_refused_with_the_other_change(
    agent_client, open_ticket, queue_setup
):
    client, _me = agent_client
    other = queue_setup[2][1]
    ticket = open_ticket()
    seen, version = _seen(client, ticket)
    svc.ticket_set_priority(ticket=ticket, priority=1, actor=other)
    response = client.post(
        page(ticket), {"operation": "status", "version": version, "seen": seen, "status": "open"}
    )
    assert response.status_code == 200
    assert Ticket.objects.get(pk=ticket.pk).status == Status.NEW
    text = re.search(r'class="module stale-changes".*?</section>', response.content.decode(), re.S)
    assert other.full_name in text.group(0) and "priority" in text.group(0)


def test_the_ticket_page_costs_the_same_after_a_refusal_with_1_and_many_changes(
    agent_client, open_ticket, queue_setup
):
    client, _me = agent_client
    other = queue_setup[2][1]
    counts = []
    for changes in (1, 20):
        ticket = open_ticket()
        seen, version = _seen(client, ticket)
        for n in range(changes):
            svc.ticket_reply(ticket=ticket, author=other, body=f"Note {n}", internal=True)
            svc.ticket_set_priority(ticket=ticket, priority=1 + n % 2, actor=other)
        with CaptureQueriesContext(connection) as queries:
            client.post(
                page(ticket),
                {"operation": "reply", "version": version, "seen": seen, "body": "x"},
            )
        counts.append(len(queries))
    assert counts[0] == counts[1]
