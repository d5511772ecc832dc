"""The chat socket: who may join, every frame type, no loss and no duplicate on reconnect."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat import presence, services
from chat.models import ChatMessage
from testsupport import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    """The test's own sync_to_async calls run in asgiref's worker thread: close its database
    connection afterwards, or the test database cannot be dropped at the end of the run."""
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


def application():
    from servicedesk.asgi import application as app

    return app


def socket(client: Client | None, conversation_id: int, origin: bytes = b"http://localhost"):
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application(), f"/ws/chat/{conversation_id}/", headers=headers)


@pytest.fixture
def world(make_customer, queue_setup, make_unit):
    """A customer's conversation in the regional queue; a member agent; the supervisor."""
    queue, supervisor, agents = queue_setup
    presence.presence_beat(agent=agents[0])  # online: the chat is theirs, the bot stays quiet
    customer = make_customer()
    unit = make_unit(customer.organisation)  # a handheld welder: the regional handheld queue
    conversation = services.conversation_open(customer=customer, unit=unit)
    assert conversation.queue == queue and conversation.agent_id == agents[0].pk
    return {
        "customer": customer,
        "agent": agents[0],
        "supervisor": supervisor,
        "conversation": conversation,
    }


async def joined(user, conversation_id: int) -> WebsocketCommunicator:
    client = Client()
    await sync_to_async(sign_in)(client, user)
    ws = socket(client, conversation_id)
    connected, code = await ws.connect()
    assert connected, code
    return ws


async def frames_until(ws, kind: str, limit: int = 20) -> list[dict]:
    """Read frames until one of the kind arrives; return them all."""
    seen = []
    for _ in range(limit):
        frame = await ws.receive_json_from(timeout=2)
        seen.append(frame)
        if frame["type"] == kind:
            return seen
    raise AssertionError(f"no {kind} frame in {seen}")


# --------------------------------------------------------------------------- refusals


async def test_anonymous_sockets_are_closed(world):
    connected, code = await socket(None, world["conversation"].pk).connect()
    assert not connected and code == 4401


async def test_staff_without_a_second_factor_are_closed(world):
    client = Client()
    await sync_to_async(sign_in)(client, world["agent"], verified=False)
    connected, code = await socket(client, world["conversation"].pk).connect()
    assert not connected and code == 4403


async def test_another_customer_cannot_join(world, make_customer):
    stranger = await sync_to_async(make_customer)(org=world["customer"].organisation)
    client = Client()
    await sync_to_async(sign_in)(client, stranger)
    connected, code = await socket(client, world["conversation"].pk).connect()
    assert not connected and code == 4404
    from audit.models import AuditEvent

    denied = await sync_to_async(AuditEvent.objects.filter(action="access.denied").count)()
    assert denied == 1


async def test_an_agent_outside_the_queue_cannot_join(world, make_staff):
    outsider = await sync_to_async(make_staff)()
    client = Client()
    await sync_to_async(sign_in)(client, outsider)
    connected, code = await socket(client, world["conversation"].pk).connect()
    assert not connected and code == 4404


async def test_unknown_conversations_look_like_foreign_ones(world):
    client = Client()
    await sync_to_async(sign_in)(client, world["customer"])
    connected, code = await socket(client, 999999).connect()
    assert not connected and code == 4404


async def test_a_foreign_origin_is_refused(world):
    client = Client()
    await sync_to_async(sign_in)(client, world["customer"])
    ws = socket(client, world["conversation"].pk, origin=b"http://evil.example")
    connected, _code = await ws.connect()
    assert not connected


# --------------------------------------------------------------------------- frames


async def test_message_is_stored_acknowledged_and_delivered_to_the_agent(world):
    conversation = world["conversation"]
    customer = await joined(world["customer"], conversation.pk)
    agent = await joined(world["agent"], conversation.pk)
    await customer.send_json_to({"type": "message", "client_id": "c-1", "body": "Lens is black"})
    frames = await frames_until(customer, "ack")
    assert frames[-1] == {"type": "ack", "client_id": "c-1", "seq": 1}
    delivered = await frames_until(agent, "message")
    message = delivered[-1]
    assert (message["seq"], message["body"], message["from_customer"]) == (1, "Lens is black", True)
    stored = await sync_to_async(ChatMessage.objects.get)(conversation=conversation, seq=1)
    assert stored.body == "Lens is black" and stored.client_id == "c-1"
    # The agent answers; numbers go on.
    await agent.send_json_to({"type": "message", "client_id": "a-1", "body": "Clean it with IPA"})
    assert (await frames_until(agent, "ack"))[-1]["seq"] == 2
    # The customer's other tabs see their own message too (seq 1), then the answer.
    own = (await frames_until(customer, "message"))[-1]
    assert own["seq"] == 1
    answer = (await frames_until(customer, "message"))[-1]
    assert answer["seq"] == 2
    assert answer["body"] == "Clean it with IPA" and answer["from_customer"] is False
    await customer.disconnect()
    await agent.disconnect()


async def test_a_resend_with_the_same_client_id_is_not_stored_twice(world):
    conversation = world["conversation"]
    customer = await joined(world["customer"], conversation.pk)
    agent = await joined(world["agent"], conversation.pk)
    for _ in range(3):  # the acknowledgement was lost twice
        await customer.send_json_to({"type": "message", "client_id": "c-7", "body": "Pores"})
        assert (await frames_until(customer, "ack"))[-1] == {
            "type": "ack",
            "client_id": "c-7",
            "seq": 1,
        }
    count = await sync_to_async(ChatMessage.objects.filter(conversation=conversation).count)()
    assert count == 1
    # The agent saw the message once.
    assert (await frames_until(agent, "message"))[-1]["seq"] == 1
    assert await agent.receive_nothing(timeout=0.3)
    await customer.disconnect()
    await agent.disconnect()


async def test_resume_replays_what_was_missed_in_order_without_gaps_or_duplicates(world):
    conversation = world["conversation"]
    customer = await joined(world["customer"], conversation.pk)
    await customer.send_json_to({"type": "message", "client_id": "c-1", "body": "one"})
    await frames_until(customer, "ack")
    await customer.disconnect()  # the customer's phone loses the network
    agent = await joined(world["agent"], conversation.pk)
    for n in range(2, 6):
        await agent.send_json_to({"type": "message", "client_id": f"a-{n}", "body": f"m{n}"})
        await frames_until(agent, "ack")
    back = await joined(world["customer"], conversation.pk)
    await back.send_json_to({"type": "resume", "last_seq": 1})
    frames = await frames_until(back, "resumed")
    replayed = [f["seq"] for f in frames if f["type"] == "message"]
    assert replayed == [2, 3, 4, 5]
    assert frames[-1] == {"type": "resumed", "last_seq": 5}
    # From the start, everything, once.
    await back.send_json_to({"type": "resume", "last_seq": 0})
    frames = await frames_until(back, "resumed")
    assert [f["seq"] for f in frames if f["type"] == "message"] == [1, 2, 3, 4, 5]
    await back.disconnect()
    await agent.disconnect()


async def test_typing_read_presence_and_ping(world):
    conversation = world["conversation"]
    customer = await joined(world["customer"], conversation.pk)
    agent = await joined(world["agent"], conversation.pk)
    await agent.send_json_to({"type": "typing", "typing": True})
    typing = (await frames_until(customer, "typing"))[-1]
    assert typing["typing"] is True and typing["staff"] is True
    await agent.send_json_to({"type": "message", "client_id": "a-1", "body": "Hello"})
    await frames_until(agent, "ack")
    await frames_until(customer, "message")
    await customer.send_json_to({"type": "read", "seq": 1})
    read = (await frames_until(agent, "read"))[-1]
    assert read["seq"] == 1 and read["staff"] is False
    stored = await sync_to_async(ChatMessage.objects.get)(conversation=conversation, seq=1)
    assert stored.read_at is not None
    await customer.send_json_to({"type": "presence", "state": "away"})
    presence = (await frames_until(agent, "presence"))[-1]
    assert presence["state"] == "away"
    await customer.send_json_to({"type": "ping"})
    assert (await frames_until(customer, "pong"))[-1] == {"type": "pong", "last_seq": 1}
    await customer.disconnect()
    assert (await frames_until(agent, "presence"))[-1]["state"] == "offline"
    await agent.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_frame"),
        ('["a list"]', "bad_frame"),
        ('{"no": "type"}', "bad_frame"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "message", "client_id": "c-1", "body": "   "}', "empty"),
        ('{"type": "message", "client_id": "bad id!", "body": "x"}', "bad_client_id"),
        ('{"type": "message", "client_id": "c-1", "body": "' + "x" * 4001 + '"}', "too_long"),
        ('{"type": "resume", "last_seq": "abc"}', "bad_frame"),
        ('{"type": "read", "seq": 0}', "bad_frame"),
        ('{"type": "presence", "state": "asleep"}', "bad_frame"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(world, frame, code):
    customer = await joined(world["customer"], world["conversation"].pk)
    await customer.send_to(text_data=frame)
    error = (await frames_until(customer, "error"))[-1]
    assert error["code"] == code
    await customer.send_json_to({"type": "ping"})
    assert (await frames_until(customer, "pong"))[-1]["type"] == "pong"
    count = await sync_to_async(ChatMessage.objects.count)()
    assert count == 0
    await customer.disconnect()


async def test_a_closed_conversation_takes_no_messages(world):
    from chat.models import Conversation, ConversationStatus

    conversation = world["conversation"]
    await sync_to_async(Conversation.objects.filter(pk=conversation.pk).update)(
        status=ConversationStatus.CLOSED
    )
    customer = await joined(world["customer"], conversation.pk)
    await customer.send_json_to({"type": "message", "client_id": "c-1", "body": "Hello?"})
    assert (await frames_until(customer, "error"))[-1]["code"] == "closed"
    await customer.disconnect()


async def test_a_flood_of_frames_is_rate_limited(world):
    customer = await joined(world["customer"], world["conversation"].pk)
    for _ in range(40):
        await customer.send_json_to({"type": "ping"})
    frames = [await customer.receive_json_from(timeout=2) for _ in range(40)]
    assert any(f.get("code") == "rate_limited" for f in frames)
    assert sum(f["type"] == "pong" for f in frames) >= 20
    await customer.disconnect()


# --------------------------------------------------------------------------- console


def console(client: Client | None):
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application(), "/ws/chat/console/", headers=headers)


async def test_the_console_makes_the_agent_online_and_offline(world):
    from chat.models import AgentPresence

    client = Client()
    await sync_to_async(sign_in)(client, world["agent"])
    ws = console(client)
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from(timeout=2)) == {"type": "presence", "state": "online"}
    # The waiting chat of their queue was given to them when they came online.
    conversation = world["conversation"]
    await sync_to_async(conversation.refresh_from_db)()
    assert conversation.agent_id == world["agent"].pk
    await ws.send_json_to({"type": "presence", "state": "away"})
    assert (await ws.receive_json_from(timeout=2))["state"] == "away"
    await ws.disconnect()
    state = await sync_to_async(lambda: AgentPresence.objects.get(agent=world["agent"]).state)()
    assert state == "offline"


async def test_customers_cannot_open_the_console(world):
    client = Client()
    await sync_to_async(sign_in)(client, world["customer"])
    connected, code = await console(client).connect()
    assert not connected and code == 4403


async def test_an_agents_chat_frames_count_as_activity_but_pings_do_not(world, monkeypatch):
    """The staff idle limit on sockets: a message the agent writes is activity (as a page
    request is); the page's own pings are not, so an unattended chat still times out."""
    import time

    from accounts import sockets
    from accounts.services.auth import SESSION_AUTH_AT, SESSION_SEEN_AT

    monkeypatch.setattr(sockets, "ACTIVITY_EVERY", 0)  # note every act, not once a minute
    client = Client()
    await sync_to_async(sign_in)(client, world["agent"])
    twenty_minutes_ago = int(time.time()) - 20 * 60

    @sync_to_async
    def seen_at(value: int | None = None) -> int:
        session = client.session
        if value is not None:
            session[SESSION_AUTH_AT] = session[SESSION_SEEN_AT] = value
            session.save()
        return session[SESSION_SEEN_AT]

    await seen_at(twenty_minutes_ago)
    ws = await joined_with(client, world["conversation"].pk)
    await ws.send_json_to({"type": "ping"})
    await frames_until(ws, "pong")
    assert await seen_at() == twenty_minutes_ago
    await ws.send_json_to({"type": "message", "client_id": "act-1", "body": "On my way."})
    await frames_until(ws, "ack")
    assert await seen_at() >= int(time.time()) - 5
    await ws.disconnect()


async def joined_with(client: Client, conversation_id: int) -> WebsocketCommunicator:
    ws = socket(client, conversation_id)
    connected, code = await ws.connect()
    assert connected, code
    return ws


# --------------------------------------------------------------------------- delivery, batches


async def wait_for(check, seconds: float = 3.0):
    """Poll a sync check (delivery marks are written by the writer just after sending)."""
    import asyncio

    for _ in range(int(seconds / 0.05)):
        value = await sync_to_async(check)()
        if value:
            return value
        await asyncio.sleep(0.05)
    return await sync_to_async(check)()


async def test_a_message_is_marked_delivered_when_the_other_side_receives_it(world):
    conversation = world["conversation"]

    def delivered(seq: int):
        return ChatMessage.objects.get(conversation=conversation, seq=seq).delivered_at

    customer = await joined(world["customer"], conversation.pk)
    await customer.send_json_to({"type": "message", "client_id": "c-1", "body": "Spatter"})
    await frames_until(customer, "message")  # its own copy: not a delivery
    assert await wait_for(lambda: delivered(1), seconds=0.5) is None
    agent = await joined(world["agent"], conversation.pk)
    await agent.send_json_to({"type": "resume", "last_seq": 0})
    await frames_until(agent, "resumed")
    assert await wait_for(lambda: delivered(1)) is not None  # replayed to the desk
    await agent.send_json_to({"type": "message", "client_id": "a-1", "body": "Nozzle?"})
    await frames_until(customer, "message")
    assert await wait_for(lambda: delivered(2)) is not None  # live to the customer
    await customer.disconnect()
    await agent.disconnect()


async def test_a_pong_names_the_latest_number_so_a_lost_frame_is_noticed(world):
    conversation = world["conversation"]
    customer = await joined(world["customer"], conversation.pk)
    # Stored without a frame reaching this socket: what a frame lost in the layer looks like.
    await sync_to_async(services.message_post)(
        conversation=conversation, sender=world["agent"], body="Lost on the way", client_id="a-9"
    )
    await customer.send_json_to({"type": "ping"})
    assert (await frames_until(customer, "pong"))[-1]["last_seq"] == 1
    await customer.send_json_to({"type": "resume", "last_seq": 0})
    replayed = await frames_until(customer, "resumed")
    assert [f["body"] for f in replayed if f["type"] == "message"] == ["Lost on the way"]
    await customer.disconnect()


async def test_messages_sent_at_once_are_stored_in_batches_in_order(
    world, make_customer, make_unit, monkeypatch
):
    """Six sockets send five messages each without waiting: every message is stored once,
    numbered in its conversation's order, in fewer transactions than messages."""
    import asyncio

    batches: list[int] = []
    store = services.messages_post_many

    def counted(posts):
        if not any(p.is_bot for p in posts):  # the bot's own messages go one by one
            batches.append(len(posts))
        return store(posts)

    monkeypatch.setattr(services, "messages_post_many", counted)

    def open_more():
        out = []
        for _ in range(5):
            c = make_customer(org=world["customer"].organisation)
            out.append((c, services.conversation_open(customer=c, unit=make_unit(c.organisation))))
        return out

    people = [(world["customer"], world["conversation"]), *await sync_to_async(open_more)()]
    sockets = [await joined(user, conv.pk) for user, conv in people]
    for n in range(5):
        await asyncio.gather(
            *(
                ws.send_json_to({"type": "message", "client_id": f"m-{n}", "body": f"line {n}"})
                for ws in sockets
            )
        )
    for ws in sockets:
        acks = []
        while len(acks) < 5:
            frame = await ws.receive_json_from(timeout=3)
            if frame["type"] == "ack":
                acks.append(frame)
        seqs = [a["seq"] for a in acks]  # the bot may speak in between in a waiting chat
        assert seqs == sorted(set(seqs))
        assert [a["client_id"] for a in acks] == [f"m-{n}" for n in range(5)]
        await ws.disconnect()
    assert sum(batches) == 30
    assert len(batches) < 30 and max(batches) > 1

    def bodies(conversation):
        return list(
            ChatMessage.objects.filter(conversation=conversation, is_bot=False)
            .order_by("seq")
            .values_list("client_id", flat=True)
        )

    for _user, conversation in people:
        assert await sync_to_async(bodies)(conversation) == [f"m-{n}" for n in range(5)]


async def test_a_database_failure_refuses_the_message_with_an_error_not_a_crash(world, monkeypatch):
    from django.db import OperationalError

    def down(posts):
        raise OperationalError("database unavailable")

    customer = await joined(world["customer"], world["conversation"].pk)
    with monkeypatch.context() as patch:
        patch.setattr(services, "messages_post_many", down)
        await customer.send_json_to({"type": "message", "client_id": "c-1", "body": "Help"})
        error = (await frames_until(customer, "error"))[-1]
    assert error["code"] == "unavailable" and error["client_id"] == "c-1"
    # The socket stays open and the same message goes through once the database is back.
    await customer.send_json_to({"type": "message", "client_id": "c-1", "body": "Help"})
    assert (await frames_until(customer, "ack"))[-1]["seq"] == 1
    await customer.disconnect()


async def test_a_fault_in_storing_fails_the_socket_instead_of_leaving_it_waiting(
    world, monkeypatch
):
    """A bug (not a database error) in the batch: the consumer gets it, the socket closes with
    1011, and the writer goes on storing for the others."""

    def broken(posts):
        raise TypeError("a bug")

    customer = await joined(world["customer"], world["conversation"].pk)
    with monkeypatch.context() as patch:
        patch.setattr(services, "messages_post_many", broken)
        await customer.send_json_to({"type": "message", "client_id": "c-1", "body": "Help"})
        with pytest.raises(TypeError):
            await customer.receive_output(timeout=3)
    again = await joined(world["customer"], world["conversation"].pk)
    await again.send_json_to({"type": "message", "client_id": "c-1", "body": "Help"})
    assert (await frames_until(again, "ack"))[-1]["seq"] == 1
    await again.disconnect()
