"""Presence from heartbeats and the routing of waiting chats to the least busy online agent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from chat import presence, services
from chat.models import AgentPresence, ConversationStatus, PresenceState
from core.errors import ApplicationError, Forbidden
from tickets.models import QueueMember

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_chat(make_customer, make_unit, queue_setup):
    def make():
        customer = make_customer()
        return services.conversation_open(customer=customer, unit=make_unit(customer.organisation))

    return make


def test_a_chat_waits_while_nobody_is_online_and_is_assigned_when_an_agent_comes(
    open_chat, queue_setup
):
    agent = queue_setup[2][0]
    chat = open_chat()
    assert (chat.status, chat.agent_id) == (ConversationStatus.WAITING, None)
    presence.presence_beat(agent=agent)
    chat.refresh_from_db()
    assert (chat.status, chat.agent_id) == (ConversationStatus.ACTIVE, agent.pk)


def test_routing_prefers_the_least_busy_agent_within_capacity(open_chat, queue_setup):
    _queue, _supervisor, agents = queue_setup
    first, second = agents[0], agents[1]
    for agent in (first, second):
        presence.presence_beat(agent=agent)
    AgentPresence.objects.filter(agent__in=[first, second]).update(capacity=2)
    chats = [open_chat() for _ in range(5)]
    loads = [c.agent_id for c in chats]
    # Alternating by load, two each, then the fifth waits: everyone is at capacity.
    assert loads.count(first.pk) == 2 and loads.count(second.pk) == 2
    assert chats[4].status == ConversationStatus.WAITING and chats[4].agent_id is None


def test_an_agent_of_another_queue_is_never_given_the_chat(open_chat, make_staff):
    outsider = make_staff()
    presence.presence_beat(agent=outsider)
    chat = open_chat()
    assert chat.status == ConversationStatus.WAITING


def test_a_silent_agent_goes_offline_after_the_timeout_and_gets_no_chats(open_chat, queue_setup):
    agent = queue_setup[2][0]
    presence.presence_beat(agent=agent)
    AgentPresence.objects.filter(agent=agent).update(
        last_seen=timezone.now() - dt.timedelta(seconds=61)
    )
    chat = open_chat()  # routing already ignores the stale heartbeat
    assert chat.status == ConversationStatus.WAITING
    assert presence.presence_sweep() == 1
    assert AgentPresence.objects.get(agent=agent).state == PresenceState.OFFLINE


def test_away_agents_get_no_new_chats(open_chat, queue_setup):
    agent = queue_setup[2][0]
    presence.presence_beat(agent=agent, state=PresenceState.AWAY)
    assert open_chat().status == ConversationStatus.WAITING


def test_accept_and_transfer(open_chat, queue_setup, make_staff):
    agents = queue_setup[2]
    chat = open_chat()
    accepted = presence.conversation_accept(conversation=chat, agent=agents[0])
    assert (accepted.status, accepted.agent_id) == (ConversationStatus.ACTIVE, agents[0].pk)
    with pytest.raises(ApplicationError, match="taken"):
        presence.conversation_accept(conversation=chat, agent=agents[1])
    moved = presence.conversation_transfer(conversation=chat, to_agent=agents[1], actor=agents[0])
    assert moved.agent_id == agents[1].pk
    with pytest.raises(ApplicationError):
        presence.conversation_transfer(conversation=chat, to_agent=make_staff(), actor=agents[0])
    other_chat = open_chat()
    with pytest.raises(Forbidden):
        presence.conversation_accept(conversation=other_chat, agent=make_staff())


def test_customers_have_no_presence(make_customer):
    with pytest.raises(Forbidden):
        presence.presence_beat(agent=make_customer())


def test_metrics_export_the_waiting_queue(open_chat, client):
    open_chat()
    open_chat()
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "welddesk_chat_waiting 2.0" in body
    assert "welddesk_chat_longest_wait_seconds" in body


def test_the_queue_is_the_one_of_the_machine(open_chat, queue_setup):
    chat = open_chat()
    assert chat.queue == queue_setup[0]
    assert QueueMember.objects.filter(queue=chat.queue).count() == len(queue_setup[2])


def test_a_surge_calls_the_standby_roster_once_per_period(
    open_chat, make_staff, settings, django_capture_on_commit_callbacks
):
    from django.core import mail
    from django.core.cache import cache

    from audit.models import AuditEvent

    cache.clear()
    settings.CHAT_SURGE_WAITING = 3
    standby = make_staff(email="standby@welddesk.example", language="zh-hans")
    AgentPresence.objects.create(agent=standby, standby=True)
    on_duty = make_staff(email="duty@welddesk.example")
    AgentPresence.objects.create(agent=on_duty, standby=False)
    for _ in range(2):
        open_chat()
    assert presence.surge_check() == 0  # two waiting: no surge yet
    open_chat()
    with django_capture_on_commit_callbacks(execute=True):
        assert presence.surge_check() == 1
    assert [m.to for m in mail.outbox] == [["standby@welddesk.example"]]
    assert "3" in mail.outbox[0].subject and "在线咨询" in mail.outbox[0].subject  # in Chinese
    assert presence.surge_check() == 0  # not again in the same period
    assert AuditEvent.objects.filter(action="chat.surge").count() == 1


def test_a_chat_goes_only_to_an_online_agent_who_may_see_the_customers_region(
    open_chat, queue_setup, make_staff
):
    from accounts.models import Region

    queue, _supervisor, agents = queue_setup
    south = make_staff(regions=[Region.objects.get(code="south")])
    QueueMember.objects.create(queue=queue, agent=south)
    presence.presence_beat(agent=south)
    chat = open_chat()  # an East China customer
    assert chat.status == ConversationStatus.WAITING and chat.agent_id is None
    presence.presence_beat(agent=agents[0])
    chat.refresh_from_db()
    assert (chat.status, chat.agent_id) == (ConversationStatus.ACTIVE, agents[0].pk)
