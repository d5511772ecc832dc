"""The ticket list by urgency: the stored key (sla_next_due), the default order, the sorts."""

from __future__ import annotations

import datetime as dt
import importlib
import re

from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tickets import selectors
from tickets.models import SavedView, Status, Ticket
from tickets.services import escalation
from tickets.services import tickets as svc
from tickets.tests.conftest import at

CHANGELIST = "/admin/tickets/ticket/"


def listed(client, params=None) -> list[str]:
    return [t.reference for t in client.get(CHANGELIST, params or {}).context["cl"].result_list]


def hours_ago(hours: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=hours)


# ------------------------------------------------------------------- the stored key


def test_the_services_keep_the_nearest_running_due_time(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket(priority=2)
    # New: first response and resolution run; the first response is nearer.
    assert ticket.sla_next_due == ticket.first_response_due < ticket.resolution_due
    svc.ticket_reply(ticket=ticket, author=agent, body="Looking at it.")
    ticket.refresh_from_db()
    assert ticket.sla_next_due == ticket.resolution_due
    # Waiting on the customer: the clock stops, the ticket has no due time to sort by.
    svc.ticket_transition(ticket=ticket, status=Status.WAITING, actor=agent)
    ticket.refresh_from_db()
    assert ticket.sla_paused_at is not None and ticket.sla_next_due is None
    # The customer writes: the clock runs again, next reply is due before resolution.
    svc.ticket_reply(ticket=ticket, author=ticket.requester, body="Photos attached.")
    ticket.refresh_from_db()
    assert ticket.sla_paused_at is None
    assert ticket.sla_next_due == min(ticket.next_reply_due, ticket.resolution_due)
    svc.ticket_transition(ticket=ticket, status=Status.RESOLVED, actor=agent)
    ticket.refresh_from_db()
    assert ticket.sla_next_due is None
    assert selectors.sla_countdown(ticket).due is None


def test_a_new_priority_moves_the_key(open_ticket, queue_setup):
    supervisor = queue_setup[1]
    ticket = open_ticket(priority=4)
    before = ticket.sla_next_due
    svc.ticket_set_priority(ticket=ticket, priority=1, actor=supervisor, now=ticket.created_at)
    ticket.refresh_from_db()
    assert ticket.sla_next_due == ticket.first_response_due < before


def test_the_migration_fills_the_key_of_existing_tickets(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    running, waiting = open_ticket(priority=2), open_ticket(priority=1)
    svc.ticket_transition(ticket=waiting, status=Status.WAITING, actor=agent)
    Ticket.objects.update(sla_next_due=None)
    migration = importlib.import_module("tickets.migrations.0007_sla_next_due")
    migration.fill(apps, None)
    running.refresh_from_db()
    waiting.refresh_from_db()
    assert running.sla_next_due == running.first_response_due
    assert waiting.sla_next_due is None


# ------------------------------------------------------------------- the default order


def test_breached_first_then_time_left_then_paused_ties_by_key(
    agent_client, open_ticket, queue_setup, make_customer
):
    client, _me = agent_client
    agent = queue_setup[2][0]
    customer = make_customer()
    # A P1 with about 3 hours left: answered, its resolution (8 h around the clock) runs.
    p1 = open_ticket(customer, priority=1, now=hours_ago(5))
    svc.ticket_reply(ticket=p1, author=agent, body="On it.")
    # A P2 opened in March: long overdue, and the scan has marked it breached.
    p2 = open_ticket(customer, priority=2)
    escalation.sla_scan(now=timezone.now())
    p2.refresh_from_db()
    assert p2.sla_breached and p2.sla_next_due < timezone.now()
    # A P1 waiting on the customer: paused, last although it is a P1.
    paused = open_ticket(customer, priority=1, now=hours_ago(0.1))
    svc.ticket_transition(ticket=paused, status=Status.WAITING, actor=agent)
    # Two P3s opened at the same instant: the same due time, listed by key.
    same = timezone.now().replace(microsecond=0)
    twins = [open_ticket(customer, priority=3, now=same) for _ in range(2)]
    p1.refresh_from_db()
    assert dt.timedelta(hours=2.5) < p1.sla_next_due - timezone.now() < dt.timedelta(hours=3.5)

    expected = [p2.reference, p1.reference, *(t.reference for t in twins), paused.reference]
    assert listed(client) == expected
    # Urgency is the default of every list, and `o=urgency` names it.
    assert listed(client, {"o": "urgency"}) == expected
    assert listed(client, {"status__exact": "new"}) == [
        r for r in expected if r not in (paused.reference, p1.reference)
    ]


def test_the_header_shows_the_sla_column_sorted_and_the_switch_marks_urgency(
    agent_client, open_ticket
):
    client, _me = agent_client
    open_ticket()
    content = client.get(CHANGELIST).content.decode()
    header = re.search(r'<th scope="col" class="([^"]*column-sla_countdown[^"]*)"', content)
    assert header and "sorted ascending" in header.group(1)
    sort = re.search(r'<nav class="list-sort".*?</nav>', content, re.S).group(0)
    assert re.search(r'<a href="\?"[^>]*aria-current="true"[^>]*>Urgency</a>', sort)
    for name in ("newest", "priority", "updated"):
        assert f'href="?o={name}"' in sort


def test_one_click_sorts(agent_client, open_ticket, queue_setup, make_customer):
    client, _me = agent_client
    agent = queue_setup[2][0]
    customer = make_customer()
    old_p4 = open_ticket(customer, priority=4, now=at(2026, 1, 5, 9, 0))
    new_p2 = open_ticket(customer, priority=2, now=hours_ago(1))
    new_p1 = open_ticket(customer, priority=1, now=hours_ago(0.2))
    svc.ticket_transition(ticket=new_p1, status=Status.WAITING, actor=agent)
    svc.ticket_update(ticket=old_p4, actor=agent, subject="Porosity, photos received")

    assert listed(client) == [old_p4.reference, new_p2.reference, new_p1.reference]
    assert listed(client, {"o": "newest"}) == [
        new_p1.reference,
        new_p2.reference,
        old_p4.reference,
    ]
    assert listed(client, {"o": "priority"}) == [
        new_p1.reference,
        new_p2.reference,
        old_p4.reference,
    ]
    assert listed(client, {"o": "updated"})[0] == old_p4.reference
    # Django's column headers: the SLA column either way round keeps stopped clocks last.
    column = TicketAdminColumns.sla()
    assert listed(client, {"o": str(column)}) == listed(client)
    assert listed(client, {"o": f"-{column}"}) == [
        new_p2.reference,
        old_p4.reference,
        new_p1.reference,
    ]
    # A sort the list does not know is ignored (Django's way), never an error.
    assert client.get(CHANGELIST, {"o": "sideways"}).status_code == 200


class TicketAdminColumns:
    @staticmethod
    def sla() -> int:
        from django.contrib import admin

        model_admin = admin.site._registry[Ticket]
        return ["action_checkbox", *model_admin.list_display].index("sla_countdown")


def test_a_queue_keeps_priority_service_first_then_urgency(
    agent_client, open_ticket, queue_setup, make_customer, make_org
):
    from accounts.services import organisation_priority_set

    client, _me = agent_client
    queue = queue_setup[0]
    overdue = open_ticket(priority=2)
    favoured_org = make_org("Favoured Co")
    organisation_priority_set(
        organisation=favoured_org,
        until=timezone.now() + dt.timedelta(days=7),
        actor=None,
        reason="compensation.grant:1",
    )
    favoured = open_ticket(make_customer(favoured_org), priority=4, now=hours_ago(0.1))
    in_queue = {"queue__id__exact": queue.pk}
    assert listed(client, in_queue) == [favoured.reference, overdue.reference]
    assert listed(client) == [overdue.reference, favoured.reference]


# ------------------------------------------------------------------- query budget


def test_the_list_costs_the_same_with_1_and_50_tickets_in_a_saved_view(
    agent_client, open_ticket, queue_setup, make_customer, django_assert_num_queries
):
    client, me = agent_client
    agent = queue_setup[2][0]
    customer = make_customer()
    for n in range(3):
        SavedView.objects.create(owner=me, name=f"view {n}", query=f"priority__exact={n + 1}")
    SavedView.objects.create(owner=me, name="open", query="status__exact=new")
    params = {"status__exact": "new"}
    open_ticket(customer)
    client.get(CHANGELIST, params)  # warm the per-process caches
    with CaptureQueriesContext(connection) as one:
        response = client.get(CHANGELIST, params)
    assert len(response.context["cl"].result_list) == 1
    assert 'aria-current="true" class="active">open</a>' in response.content.decode()
    for n in range(50):
        ticket = open_ticket(customer, priority=n % 4 + 1, now=hours_ago(n % 7))
        if n % 5 == 1:
            svc.ticket_assign(ticket=ticket, agent=None, actor=agent)
    with django_assert_num_queries(len(one)):
        response = client.get(CHANGELIST, params)
    cl = response.context["cl"]
    assert len(cl.result_list) == 50 and cl.multi_page
    dues = [t.sla_next_due for t in cl.result_list]
    assert dues == sorted(dues)
