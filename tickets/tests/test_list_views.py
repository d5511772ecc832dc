"""Saved personal views of the ticket list, and "Next ticket"."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services.events import actor_ref_for
from core import privacy
from core.errors import Conflict
from tickets import selectors
from tickets.models import QueueMember, SavedView, Status, Ticket
from tickets.models.views import SAVED_VIEW_NAME_MAX, SAVED_VIEWS_MAX
from tickets.services import next_ticket
from tickets.services import tickets as svc

CHANGELIST = "/admin/tickets/ticket/"
VIEWS = "/admin/tickets/ticket/views/"
SAVE = "/admin/tickets/ticket/views/save/"
NEXT = "/admin/tickets/ticket/next/"


def save(client, name: str, query: str):
    return client.post(SAVE, {"name": name, "query": query})


def message_texts(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# ------------------------------------------------------------------- saved views


def test_save_apply_rename_delete(agent_client, open_ticket):
    client, me = agent_client
    open_ticket()
    # The list offers to save what it shows: its filters and sort, in canonical order.
    content = client.get(CHANGELIST, {"status__exact": "new", "o": "priority", "p": "1"})
    hidden = re.search(r'name="query" value="([^"]*)"', content.content.decode()).group(1)
    assert hidden == "o=priority&amp;status__exact=new"

    response = save(client, "  my   P1/P2 ", "status__exact=new&o=priority")
    view = SavedView.objects.get(owner=me)
    assert view.name == "my P1/P2" and view.query == "o=priority&status__exact=new"
    assert response.status_code == 302
    assert response.url == f"{CHANGELIST}?o=priority&status__exact=new"
    event = AuditEvent.objects.get(action="ticket_view.saved")
    assert event.changed_fields == ["name", "query"]
    assert event.data["values"] == {"query": view.query}  # a name is the agent's free text

    # Shown above the list as a link, marked when it is the list in view.
    page = client.get(CHANGELIST, {"o": "priority", "status__exact": "new"}).content.decode()
    assert (
        f'<a href="?o=priority&amp;status__exact=new" data-view="{view.pk}" '
        'aria-current="true" class="active">my P1/P2</a>'
    ) in page
    assert (
        'aria-current="true" class="active">my P1/P2' not in client.get(CHANGELIST).content.decode()
    )
    opened = client.get(f"{VIEWS}{view.pk}/")
    assert opened.status_code == 302 and opened.url.endswith("?o=priority&status__exact=new")

    assert client.post(f"{VIEWS}{view.pk}/rename/", {"name": "urgent"}).status_code == 302
    view.refresh_from_db()
    assert view.name == "urgent"
    assert AuditEvent.objects.filter(action="ticket_view.renamed").count() == 1
    assert "urgent" in client.get(VIEWS).content.decode()

    assert client.post(f"{VIEWS}{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.exists()
    assert AuditEvent.objects.filter(action="ticket_view.deleted").count() == 1


def test_views_are_personal(agent_client, staff_client, open_ticket):
    client, me = agent_client
    mine = SavedView.objects.create(owner=me, name="mine", query="status__exact=new")
    client.logout()
    other_client, other = staff_client(roles=("agent",))
    theirs = SavedView.objects.create(owner=other, name="theirs", query="priority__exact=1")
    page = other_client.get(CHANGELIST).content.decode()
    assert "theirs" in page and ">mine<" not in page
    assert other_client.get(f"{VIEWS}{mine.pk}/").status_code == 404
    assert other_client.post(f"{VIEWS}{mine.pk}/rename/", {"name": "x"}).status_code == 404
    assert other_client.post(f"{VIEWS}{mine.pk}/delete/").status_code == 404
    assert SavedView.objects.get(pk=mine.pk).name == "mine"
    assert other_client.get(f"{VIEWS}{theirs.pk}/").status_code == 302


@pytest.mark.parametrize(
    ("name", "query", "problem"),
    [
        ("", "status__exact=new", "Give the view a name."),
        ("x" * (SAVED_VIEW_NAME_MAX + 1), "status__exact=new", "At most 40 characters"),
        ("q", "q=wang.jianguo%40factory.example", "not a search"),
        ("q", "q=sealed%3Aabc", "not a search"),
        ("filter", "password=1", "The list has no filter “password”."),
        ("twice", "status__exact=new&status__exact=open", "given twice"),
        ("sort", "o=1%3BDROP", "not one of the list"),
        ("long", "status__exact=" + "n" * 200, "is not valid"),
        ("junk", "&&&=", "not a list"),
        ("ctl", "status__exact=new%0A", "is not valid"),
    ],
)
def test_bad_input_is_a_400_that_says_why(agent_client, name, query, problem):
    client, me = agent_client
    response = save(client, name, query)
    assert response.status_code == 400
    assert problem in response.content.decode()
    assert not SavedView.objects.filter(owner=me).exists()


def test_names_are_unique_and_views_limited(agent_client):
    client, me = agent_client
    assert save(client, "Awaiting parts", "status__exact=on_hold").status_code == 302
    response = save(client, "awaiting PARTS", "status__exact=new")
    assert response.status_code == 400
    assert "You already have a view of that name." in response.content.decode()
    for n in range(SAVED_VIEWS_MAX - 1):
        SavedView.objects.create(owner=me, name=f"v{n}", query="")
    response = save(client, "one too many", "")
    assert response.status_code == 400 and "delete one first" in response.content.decode()
    view = SavedView.objects.get(owner=me, name="v0")
    taken = client.post(f"{VIEWS}{view.pk}/rename/", {"name": "Awaiting parts"})
    assert taken.status_code == 400
    assert SavedView.objects.filter(owner=me).count() == SAVED_VIEWS_MAX


def test_writes_are_posts(agent_client):
    client, me = agent_client
    view = SavedView.objects.create(owner=me, name="mine", query="")
    assert client.get(SAVE, {"name": "a", "query": ""}).status_code == 405
    assert client.get(f"{VIEWS}{view.pk}/delete/").status_code == 405
    assert client.get(NEXT).status_code == 405
    assert SavedView.objects.filter(owner=me).count() == 1


def test_an_erasure_deletes_the_persons_views(agent_client, staff_client):
    client, me = agent_client
    assert save(client, "Wang's machines", "status__exact=on_hold").status_code == 302
    _client, other = staff_client(roles=("agent",), full_name="Other Agent")
    SavedView.objects.create(owner=other, name="kept", query="")
    marks = privacy.Marks(email=me.email, phone=me.phone, name=me.full_name)
    counts = svc.tickets_erase_person(user=me, marks=marks, actor="system:test")
    assert counts["saved_views"] == 1
    assert list(SavedView.objects.values_list("name", flat=True)) == ["kept"]


# ------------------------------------------------------------------- next ticket


def _unassigned(ticket: Ticket, actor) -> Ticket:
    return svc.ticket_assign(ticket=ticket, agent=None, actor=actor)


def test_next_ticket_takes_the_most_urgent_unassigned_of_my_queues(
    staff_client, open_ticket, queue_setup, make_customer, make_org
):
    queue, supervisor, _agents = queue_setup
    customer = make_customer()
    later = _unassigned(open_ticket(customer, priority=4, now=timezone.now()), supervisor)
    urgent = _unassigned(open_ticket(customer, priority=2), supervisor)  # overdue since March
    mine_already = open_ticket(customer, priority=1)  # assigned by routing
    # Another queue's ticket, and one of another region in my queue: not for me.
    north_customer = make_customer(make_org("Harbin Laser Works", region="north"))
    north = _unassigned(open_ticket(north_customer, priority=1), supervisor)
    other_queue = _unassigned(open_ticket(customer, priority=1), supervisor)
    from tickets.models import Queue

    elsewhere = Queue.objects.create(name="Cladding", slug="cladding")
    svc.ticket_update(ticket=other_queue, actor=supervisor, queue=elsewhere)

    client, me = staff_client(roles=("agent",))
    QueueMember.objects.create(queue=queue, agent=me)
    page = client.get(CHANGELIST).content.decode()
    assert '<button type="submit" id="next-ticket"' in page

    response = client.post(NEXT)
    assert response.status_code == 302 and response.url == f"{CHANGELIST}{urgent.pk}/change/"
    urgent.refresh_from_db()
    assert urgent.assignee_id == me.pk
    assert AuditEvent.objects.filter(
        action="ticket.assigned", target_id=str(urgent.pk), actor_ref=actor_ref_for(me)
    ).exists()
    assert client.post(NEXT).url == f"{CHANGELIST}{later.pk}/change/"
    # Nothing left for me: a message on the list, nothing assigned.
    response = client.post(NEXT, follow=True)
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "No unassigned ticket is waiting in your queues." in message_texts(response)
    for ticket in (north, other_queue):
        ticket.refresh_from_db()
        assert ticket.assignee_id is None
    assert Ticket.objects.get(pk=mine_already.pk).assignee_id != me.pk


def test_next_ticket_skips_closed_and_needs_a_queue(
    staff_client, open_ticket, queue_setup, make_customer
):
    queue, supervisor, _agents = queue_setup
    done = _unassigned(open_ticket(priority=1), supervisor)
    svc.ticket_transition(ticket=done, status=Status.RESOLVED, actor=supervisor)
    _client, me = staff_client(roles=("agent",))
    # Not a member of any queue: nothing to take.
    assert selectors.next_ticket_candidates(agent=me).count() == 0
    QueueMember.objects.create(queue=queue, agent=me)
    assert selectors.next_ticket_candidates(agent=me).count() == 0
    assert (
        next_ticket.ticket_take_next(
            agent=me, candidates=selectors.next_ticket_candidates(agent=me)
        )
        is None
    )


def test_a_ticket_changed_meanwhile_is_read_again(open_ticket, queue_setup, monkeypatch):
    """A version conflict (the ticket changed between reading and assigning: possible on a
    database without row locks) is not an error: the candidates are read again."""
    _queue, supervisor, agents = queue_setup
    first = _unassigned(open_ticket(priority=1), supervisor)
    original, calls = svc.ticket_assign, []

    def changed_once(*, ticket, agent, actor, expected_version=None):
        calls.append(ticket.pk)
        if len(calls) == 1:
            raise Conflict("changed meanwhile")
        return original(ticket=ticket, agent=agent, actor=actor, expected_version=expected_version)

    monkeypatch.setattr(next_ticket, "ticket_assign", changed_once)
    taken = next_ticket.ticket_take_next(
        agent=agents[0], candidates=selectors.next_ticket_candidates(agent=agents[0])
    )
    assert calls == [first.pk, first.pk]
    assert taken.pk == first.pk and taken.assignee_id == agents[0].pk


def test_unassigned_statuses_and_priority_service_order(open_ticket, queue_setup):
    _queue, supervisor, agents = queue_setup
    waiting = _unassigned(open_ticket(priority=1, now=timezone.now()), supervisor)
    svc.ticket_transition(ticket=waiting, status=Status.WAITING, actor=supervisor)
    running = _unassigned(
        open_ticket(priority=4, now=timezone.now() - dt.timedelta(minutes=5)), supervisor
    )
    # Paused last, as on the list.
    assert list(selectors.next_ticket_candidates(agent=agents[0])) == [running, waiting]


def test_demo_agents_have_example_views(db, settings, client):
    from django.core.management import call_command

    from accounts.models import User
    from testsupport import sign_in

    settings.DEBUG = True
    call_command("seed_demo", stdout=None)
    agent = User.objects.get_by_natural_key("li.na@welddesk.example")
    names = [v.name for v in selectors.saved_view_list(owner=agent)]
    assert names == sorted(["我的工单（按优先级）", "等待备件"])
    sign_in(client, agent)
    page = client.get(CHANGELIST, {"status__exact": "on_hold"}).content.decode()
    assert 'aria-current="true" class="active">等待备件</a>' in page
    call_command("seed_demo", stdout=None)  # idempotent
    assert SavedView.objects.filter(owner=agent).count() == 2


def test_views_page_costs_the_same_with_1_and_20_views_and_escapes_names(
    agent_client, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client, me = agent_client
    SavedView.objects.create(owner=me, name="<script>alert(1)</script>", query="")
    client.get(VIEWS)
    with CaptureQueriesContext(connection) as one:
        content = client.get(VIEWS).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content and "<script>alert" not in content
    for n in range(SAVED_VIEWS_MAX - 1):
        SavedView.objects.create(owner=me, name=f"view {n:02d}", query=f"priority__exact={n % 4}")
    with django_assert_num_queries(len(one)):
        content = client.get(VIEWS).content.decode()
    assert content.count('<tr data-view="') == SAVED_VIEWS_MAX
