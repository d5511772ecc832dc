"""Who a ticket may be given to (issue 18, point 7): the active desk agents of its queue.

Not a compliance officer, an administrator who does not work tickets, a member who takes no
new tickets, a colleague of another queue or someone who left; a choice outside the list is
refused with a message (never a 500) and changes nothing.
"""

from __future__ import annotations

import re

import pytest

from accounts.services import user_set_access
from testsupport import sign_in
from tickets import selectors
from tickets.models import Queue, QueueMember, Ticket

CHANGELIST = "/admin/tickets/ticket/"


def page(ticket: Ticket) -> str:
    return f"/admin/tickets/ticket/{ticket.pk}/change/"


def options(content: str, name: str) -> set[str]:
    match = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', content, re.S)
    assert match, f"no select {name}"
    return set(re.findall(r'<option value="(\d+)"', match.group(1)))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def people(queue_setup, make_staff, region):
    """The queue's agents and everyone who must not be offered."""
    queue, supervisor, agents = queue_setup
    officer = make_staff(roles=("compliance_officer",))
    administrator = make_staff(roles=(), is_superuser=True)
    resting = make_staff(full_name="Takes No New Tickets")
    gone = make_staff(full_name="Left The Company")
    elsewhere = make_staff(full_name="Of Another Queue")
    other_queue = Queue.objects.create(name="East lasers", slug="east-lasers", region=region)
    QueueMember.objects.create(queue=other_queue, agent=elsewhere)
    for person in (officer, administrator, gone):
        QueueMember.objects.create(queue=queue, agent=person)
    QueueMember.objects.create(queue=queue, agent=resting, is_active=False)
    user_set_access(user=gone, actor=None, is_active=False)
    return {
        "queue": queue,
        "other_queue": other_queue,
        "supervisor": supervisor,
        "agents": agents,
        "not_offered": [officer, administrator, resting, gone, elsewhere],
    }


def test_the_choices_are_the_active_desk_agents_of_the_queue(people):
    chosen = selectors.assignable_agents(queue_id=people["queue"].pk)
    assert {a.pk for a in chosen} == {a.pk for a in people["agents"]}


def test_the_ticket_page_offers_only_them_and_refuses_anyone_else(client, people, open_ticket):
    me = people["agents"][0]
    sign_in(client, me)
    ticket = open_ticket()
    offered = options(client.get(page(ticket)).content.decode(), "assignee")
    assert offered == {str(a.pk) for a in people["agents"]}
    before = Ticket.objects.get(pk=ticket.pk).assignee_id
    for outsider in people["not_offered"]:
        ticket.refresh_from_db()
        refused = client.post(
            page(ticket),
            {"operation": "assign", "version": ticket.version, "assignee": outsider.pk},
        )
        assert refused.status_code == 200  # the page again, with the reason
        assert any("correct the form" in m or "queue" in m for m in messages_of(refused))
        assert Ticket.objects.get(pk=ticket.pk).assignee_id == before
    ticket.refresh_from_db()
    colleague = next(a for a in people["agents"] if a.pk != ticket.assignee_id)
    done = client.post(
        page(ticket), {"operation": "assign", "version": ticket.version, "assignee": colleague.pk}
    )
    assert done.status_code == 302
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == colleague.pk


def test_bulk_assign_offers_the_queues_agents_and_refuses_per_ticket(
    client, people, open_ticket, make_customer
):
    me = people["agents"][0]
    sign_in(client, me)
    ours = open_ticket()
    theirs = open_ticket()
    Ticket.objects.filter(pk=theirs.pk).update(queue=people["other_queue"], assignee=None)
    elsewhere = people["not_offered"][-1]
    chosen = {"action": "assign_to_agent", "_selected_action": [ours.pk, theirs.pk]}
    offered = options(client.post(CHANGELIST, chosen).content.decode(), "agent")
    assert offered == {str(a.pk) for a in people["agents"]} | {str(elsewhere.pk)}
    for outsider in people["not_offered"][:4]:
        assert str(outsider.pk) not in offered
    # The agent of the other queue takes that queue's ticket; ours refuses them, with a message.
    response = client.post(
        CHANGELIST, {**chosen, "apply": "yes", "agent": elsewhere.pk}, follow=True
    )
    assert response.status_code == 200
    notes = messages_of(response)
    assert any(ours.reference in note and "queue" in note for note in notes)
    assert "1 ticket assigned." in notes
    assert Ticket.objects.get(pk=theirs.pk).assignee_id == elsewhere.pk
    assert Ticket.objects.get(pk=ours.pk).assignee_id != elsewhere.pk
    # A forged choice outside the list is the form again, not a 500.
    forged = client.post(
        CHANGELIST, {**chosen, "apply": "yes", "agent": people["not_offered"][0].pk}
    )
    assert forged.status_code == 200


def test_the_present_assignee_stays_selected_after_leaving_the_queue(client, people, open_ticket):
    """The form shows who has the ticket; choosing them again changes nothing, and nobody
    else outside the list can be chosen."""
    me, leaver = people["agents"][0], people["agents"][1]
    sign_in(client, me)
    ticket = open_ticket()
    Ticket.objects.filter(pk=ticket.pk).update(assignee=leaver)
    QueueMember.objects.filter(queue=people["queue"], agent=leaver).update(is_active=False)
    content = client.get(page(ticket)).content.decode()
    assert str(leaver.pk) in options(content, "assignee")
    assert re.search(rf'<option value="{leaver.pk}" selected>', content)
    ticket.refresh_from_db()
    again = client.post(
        page(ticket), {"operation": "assign", "version": ticket.version, "assignee": leaver.pk}
    )
    assert again.status_code == 302
    assert Ticket.objects.get(pk=ticket.pk).version == ticket.version
