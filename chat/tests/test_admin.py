"""The agents' chat console in the admin: scoping, accept, transfer, close, query budget."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat import services
from chat.models import ConversationStatus
from testsupport import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_chat(make_customer, make_unit, queue_setup):
    def make():
        customer = make_customer()
        return services.conversation_open(customer=customer, unit=make_unit(customer.organisation))

    return make


def test_console_lists_only_the_agents_queues_and_shows_unread(client, open_chat, make_staff):
    chat = open_chat()
    services.message_post(
        conversation=chat, sender=chat.customer, body="Chiller alarm", client_id="c-1"
    )
    agent = chat.queue.members.first().agent
    sign_in(client, agent)
    page = client.get(reverse("admin:chat_conversation_changelist"))
    assert page.status_code == 200
    assert [c.unread_count for c in page.context["cl"].result_list] == [1]
    outsider = make_staff()
    sign_in(client, outsider)
    listing = client.get(reverse("admin:chat_conversation_changelist"))
    assert listing.status_code == 200 and not list(listing.context["cl"].result_list)
    detail = client.get(reverse("admin:chat_conversation_change", args=[chat.pk]))
    assert detail.status_code == 404


def test_accept_transfer_and_close_from_the_console(client, open_chat, queue_setup):
    _queue, _supervisor, agents = queue_setup
    chat = open_chat()
    url = reverse("admin:chat_conversation_change", args=[chat.pk])
    sign_in(client, agents[0])
    page = client.get(url).content.decode()
    assert "Accept this chat" in page
    client.post(url, {"operation": "accept"})
    chat.refresh_from_db()
    assert (chat.status, chat.agent_id) == (ConversationStatus.ACTIVE, agents[0].pk)
    client.post(url, {"operation": "send", "body": "Hello, how can I help?"})
    assert chat.messages.count() == 1
    client.post(url, {"operation": "transfer", "agent": agents[1].pk})
    chat.refresh_from_db()
    assert chat.agent_id == agents[1].pk
    sign_in(client, agents[1])
    client.post(url, {"operation": "close"})
    chat.refresh_from_db()
    assert chat.status == ConversationStatus.CLOSED and chat.ticket is not None


def test_console_page_keeps_its_query_budget(client, open_chat, queue_setup):
    agent = queue_setup[2][0]
    chat = open_chat()
    sign_in(client, agent)
    url = reverse("admin:chat_conversation_change", args=[chat.pk])
    services.message_post(conversation=chat, sender=chat.customer, body="Hi", client_id="c-0")
    client.get(url)  # the first request after sign-in also touches the session
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for n in range(15):
        services.message_post(
            conversation=chat, sender=chat.customer, body=f"m{n}", client_id=f"c-{n + 1}"
        )
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)


def test_a_supervisor_sets_capacity_and_standby_through_the_audited_service(client, queue_setup):
    from audit.models import AuditEvent
    from chat import presence
    from chat.models import AgentPresence

    _queue, supervisor, agents = queue_setup
    row = presence.presence_beat(agent=agents[0])
    url = reverse("admin:chat_agentpresence_change", args=[row.pk])
    sign_in(client, supervisor)
    refused = client.post(url, {"capacity": 0, "standby": "on"})
    assert refused.status_code == 200  # the form again, with the reason
    assert "greater than or equal to 1" in refused.content.decode()
    assert AgentPresence.objects.get(pk=row.pk).capacity == 3
    done = client.post(url, {"capacity": 5, "standby": "on"})
    assert done.status_code == 302
    row.refresh_from_db()
    assert (row.capacity, row.standby) == (5, True)
    event = AuditEvent.objects.get(action="chat.presence_configured")
    assert event.changed_fields == ["capacity", "standby"]


def test_presence_configure_refuses_bad_capacities(queue_setup):
    from chat import presence
    from core.errors import ApplicationError

    row = presence.presence_beat(agent=queue_setup[2][0])
    for bad in (0, 21, "3", True, None):
        with pytest.raises(ApplicationError):
            presence.presence_configure(presence=row, actor=None, capacity=bad, standby=False)


def test_an_agent_of_a_nationwide_queue_reaches_only_their_regions_chats(
    client, make_customer, make_org, make_staff
):
    """Region scoping holds in the console and on the socket: a South China chat routed to a
    nationwide queue is a 404 for its East China member, in the list, the console and the
    join check of the WebSocket (issue 17.4)."""
    from accounts.models import Region
    from core.errors import NotFound
    from tickets.models import Queue, QueueMember

    east_agent = make_staff(regions=[Region.objects.get(code="east")])
    queue = Queue.objects.create(name="General (all regions)", slug="general")
    QueueMember.objects.create(queue=queue, agent=east_agent)
    south = services.conversation_open(customer=make_customer(make_org(region="south")))
    east = services.conversation_open(customer=make_customer(make_org(region="east")))
    assert south.queue_id == east.queue_id == queue.pk
    sign_in(client, east_agent)
    listing = client.get(reverse("admin:chat_conversation_changelist"))
    assert [c.pk for c in listing.context["cl"].result_list] == [east.pk]
    assert client.get(reverse("admin:chat_conversation_change", args=[south.pk])).status_code == 404
    assert services.conversation_for(user=east_agent, pk=east.pk) == east
    with pytest.raises(NotFound):
        services.conversation_for(user=east_agent, pk=south.pk)
    # An agent without a region reaches none (fail closed).
    QueueMember.objects.create(queue=queue, agent=(nowhere := make_staff(regions=())))
    assert not services.can_join(user=nowhere, conversation=east)


def test_a_chat_is_transferred_only_to_an_agent_who_may_see_its_region(
    client, make_customer, make_org, make_staff
):
    """In a nationwide queue a chat cannot be handed to a member limited to other regions (who
    could not join it): the service refuses with a clear message and the console's transfer
    picker offers only colleagues who may see the customer's region."""
    from accounts.models import Region
    from chat import presence
    from core.errors import ApplicationError
    from tickets.models import Queue, QueueMember

    east, south = (Region.objects.get(code=code) for code in ("east", "south"))
    queue = Queue.objects.create(name="General (all regions)", slug="general")
    first = make_staff(regions=[east])
    colleague = make_staff(regions=[east, south])
    southern = make_staff(regions=[south])
    for agent in (first, colleague, southern):
        QueueMember.objects.create(queue=queue, agent=agent)
    chat = services.conversation_open(customer=make_customer(make_org(region="east")))
    presence.conversation_accept(conversation=chat, agent=first)

    with pytest.raises(ApplicationError, match="does not work for this customer's region"):
        presence.conversation_transfer(conversation=chat, to_agent=southern, actor=first)
    chat.refresh_from_db()
    assert chat.agent_id == first.pk

    sign_in(client, first)
    url = reverse("admin:chat_conversation_change", args=[chat.pk])
    assert [a.pk for a in client.get(url).context["colleagues"]] == [colleague.pk]
    refused = client.post(url, {"operation": "transfer", "agent": southern.pk}, follow=True)
    assert "does not work for this customer&#x27;s region" in refused.content.decode()
    chat.refresh_from_db()
    assert chat.agent_id == first.pk
    client.post(url, {"operation": "transfer", "agent": colleague.pk})
    chat.refresh_from_db()
    assert chat.agent_id == colleague.pk
