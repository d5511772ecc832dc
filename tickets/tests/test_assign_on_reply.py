"""Replying to an unassigned ticket assigns it to the replier (per queue), and "assign to me".

The rule (tickets.services.assignment.takes_on_reply): a public reply by an active agent who
sees the customer's region and is a member of the ticket's queue, when the queue's
`assign_on_reply` is on (the default). An internal note never assigns.
"""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tickets.models import AgentLoad, Message, Queue, QueueMember, Ticket
from tickets.services import tickets as svc
from tickets.tests.test_admin import messages_of, page

pytestmark = pytest.mark.django_db


@pytest.fixture
def unassigned(open_ticket, queue_setup):
    """An unassigned new ticket of the East handheld queue (routing gave it to someone)."""
    _queue, supervisor, _agents = queue_setup
    ticket = open_ticket()
    assert ticket.queue is not None and ticket.assignee_id is not None
    return svc.ticket_assign(ticket=ticket, agent=None, actor=supervisor)


def load(agent) -> int:
    row = AgentLoad.objects.filter(agent=agent).first()
    return row.open_tickets if row else 0


def assignments(ticket: Ticket) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action="ticket.assigned", target_id=str(ticket.pk)).order_by("pk")
    )


def test_a_public_reply_assigns_the_ticket_to_the_replying_member(unassigned, queue_setup):
    agent = queue_setup[2][1]
    before = load(agent)
    svc.ticket_reply(
        ticket=unassigned,
        author=agent,
        body="We are on it.",
        expected_version=unassigned.version,
    )
    unassigned.refresh_from_db()
    assert unassigned.assignee == agent
    assert unassigned.status == "open"
    assert load(agent) == before + 1
    event = assignments(unassigned)[-1]
    assert event.actor_ref == f"user:{agent.pk}"
    assert event.data["from"] is None and event.data["on_reply"] is True
    assert event.changed_fields == ["assignee"]


def test_an_internal_note_does_not_assign(unassigned, queue_setup):
    agent = queue_setup[2][1]
    svc.ticket_reply(ticket=unassigned, author=agent, body="Looks like batch 7.", internal=True)
    unassigned.refresh_from_db()
    assert unassigned.assignee_id is None
    assert assignments(unassigned)[-1].data.get("on_reply") is None


def test_a_queue_can_turn_it_off(unassigned, queue_setup):
    queue, _supervisor, agents = queue_setup
    Queue.objects.filter(pk=queue.pk).update(assign_on_reply=False)
    svc.ticket_reply(ticket=Ticket.objects.get(pk=unassigned.pk), author=agents[0], body="Hi")
    unassigned.refresh_from_db()
    assert unassigned.assignee_id is None


def test_a_replier_outside_the_queue_does_not_take_the_ticket(unassigned, queue_setup, make_staff):
    supervisor = queue_setup[1]  # supervises the queue, but is no member of it
    svc.ticket_reply(ticket=unassigned, author=supervisor, body="Checking.")
    unassigned.refresh_from_db()
    assert unassigned.assignee_id is None
    # An inactive membership ("takes no new tickets") still counts: the agent chose to answer.
    other = make_staff(email="parttime@welddesk.example")
    QueueMember.objects.create(queue=unassigned.queue, agent=other, is_active=False)
    svc.ticket_reply(ticket=Ticket.objects.get(pk=unassigned.pk), author=other, body="Mine.")
    unassigned.refresh_from_db()
    assert unassigned.assignee == other


def test_a_member_who_does_not_see_the_region_does_not_take_it(unassigned, queue_setup, make_staff):
    from accounts.models import Region

    north = make_staff(email="north@welddesk.example", regions=[Region.objects.get(code="north")])
    QueueMember.objects.create(queue=unassigned.queue, agent=north)
    svc.ticket_reply(ticket=unassigned, author=north, body="Hello from the north.")
    unassigned.refresh_from_db()
    assert unassigned.assignee_id is None


def test_an_assigned_ticket_keeps_its_assignee(open_ticket, queue_setup):
    ticket = open_ticket()
    owner = ticket.assignee
    other = next(a for a in queue_setup[2] if a != owner)
    svc.ticket_reply(ticket=ticket, author=other, body="Helping out.")
    ticket.refresh_from_db()
    assert ticket.assignee == owner


def test_a_customer_reply_assigns_nobody(unassigned):
    svc.ticket_reply(ticket=unassigned, author=unassigned.requester, body="Any news?")
    unassigned.refresh_from_db()
    assert unassigned.assignee_id is None


def test_a_refused_reply_assigns_nobody(unassigned, queue_setup):
    """The assignment is in the reply's transaction: a stale version writes neither."""
    from core.errors import Conflict

    agent = queue_setup[2][0]
    with pytest.raises(Conflict):
        svc.ticket_reply(
            ticket=unassigned, author=agent, body="Late.", expected_version=unassigned.version - 1
        )
    unassigned.refresh_from_db()
    assert unassigned.assignee_id is None
    assert not Message.objects.filter(ticket=unassigned, author=agent).exists()


def test_the_workspace_says_the_reply_assigned_the_ticket(client, unassigned, queue_setup):
    from testsupport import sign_in

    agent = queue_setup[2][2]
    sign_in(client, agent)
    response = client.post(
        page(unassigned),
        {
            "operation": "reply",
            "version": unassigned.version,
            "body": "Please send a photo.",
            "visibility": "public",
        },
        follow=True,
    )
    assert "the ticket is now assigned to you" in " ".join(messages_of(response))
    unassigned.refresh_from_db()
    assert unassigned.assignee == agent


# ------------------------------------------------------------------- assign to me


def test_assign_to_me_button_posts_my_id_with_the_version(client, unassigned, queue_setup):
    from testsupport import sign_in

    agent = queue_setup[2][0]
    sign_in(client, agent)
    content = client.get(page(unassigned)).content.decode()
    assert 'id="assign-me"' in content
    assert f'name="assignee" value="{agent.pk}"' in content
    response = client.post(
        page(unassigned),
        {"operation": "assign", "version": unassigned.version, "assignee": agent.pk},
    )
    assert response.status_code == 302
    unassigned.refresh_from_db()
    assert unassigned.assignee == agent
    # My own ticket: no button.
    assert 'id="assign-me"' not in client.get(page(unassigned)).content.decode()


def test_the_pages_carry_the_keys_dialog_and_the_picker(client, unassigned, queue_setup):
    """Rendered server-side, so the words are the agent's language; hidden until the script."""
    from testsupport import sign_in

    agent = queue_setup[2][0]
    sign_in(client, agent)
    ticket_page = client.get(page(unassigned)).content.decode()
    assert 'id="kbd-help"' in ticket_page and 'aria-labelledby="kbd-help-title"' in ticket_page
    assert 'id="canned-picker" hidden' in ticket_page
    assert 'role="combobox"' in ticket_page and 'role="listbox"' in ticket_page
    assert "tickets/keys.js" in ticket_page
    listing = client.get("/admin/tickets/ticket/").content.decode()
    assert 'id="kbd-help"' in listing and "tickets/keys.js" in listing


def test_the_button_and_the_keys_cost_no_query(client, unassigned, queue_setup):
    """The ticket page costs the same with and without "assign to me" (the agents are read
    for the assignee select anyway); the list's dialog is template text."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from testsupport import sign_in

    agent = queue_setup[2][0]
    sign_in(client, agent)
    client.get(page(unassigned))
    with CaptureQueriesContext(connection) as offered:
        assert 'id="assign-me"' in client.get(page(unassigned)).content.decode()
    svc.ticket_assign(ticket=unassigned, agent=agent, actor=agent)
    with CaptureQueriesContext(connection) as mine:
        assert 'id="assign-me"' not in client.get(page(unassigned)).content.decode()
    assert len(mine) == len(offered)
