"""Chat services: numbering and deduplication hold under concurrent senders."""

from __future__ import annotations

import pytest
from django.db import connection

from chat import services
from chat.models import ChatMessage
from core.errors import Forbidden
from tickets.tests.test_concurrency import run_together


@pytest.fixture
def conversation(make_customer, queue_setup, make_unit):
    customer = make_customer()
    return services.conversation_open(customer=customer, unit=make_unit(customer.organisation))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_of_one_message_store_it_once(conversation):
    customer = conversation.customer
    outcomes = run_together(
        [
            lambda: services.message_post(
                conversation=conversation, sender=customer, body="Pores", client_id="c-1"
            )
            for _ in range(6)
        ]
    )
    assert [o.error for o in outcomes] == [None] * 6
    assert {o.value[0].seq for o in outcomes} == {1}
    assert sum(o.value[1] for o in outcomes) == 1  # exactly one of them stored it
    assert ChatMessage.objects.filter(conversation=conversation).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_get_consecutive_numbers(conversation, queue_setup):
    agent = queue_setup[2][0]
    calls = [
        (
            lambda n=n: services.message_post(
                conversation=conversation,
                sender=conversation.customer if n % 2 else agent,
                body=f"message {n}",
                client_id=f"x-{n}",
            )
        )
        for n in range(10)
    ]
    outcomes = run_together(calls)
    assert [o.error for o in outcomes] == [None] * 10
    seqs = sorted(
        ChatMessage.objects.filter(conversation=conversation).values_list("seq", flat=True)
    )
    assert seqs == list(range(1, 11))
    conversation.refresh_from_db()
    assert conversation.last_seq == 10


@pytest.mark.django_db
def test_staff_cannot_open_a_conversation_and_foreign_units_are_refused(
    make_staff, make_customer, make_unit, queue_setup
):
    with pytest.raises(Forbidden):
        services.conversation_open(customer=make_staff())
    customer = make_customer()
    other = make_unit(make_customer().organisation)
    with pytest.raises(Exception, match="does not belong"):
        services.conversation_open(customer=customer, unit=other)


@pytest.mark.django_db
def test_a_batch_refuses_the_bad_messages_alone_and_numbers_the_rest(
    conversation, make_customer, make_unit
):
    from chat.models import ConversationStatus

    other_customer = make_customer()
    other = services.conversation_open(
        customer=other_customer, unit=make_unit(other_customer.organisation)
    )
    closed_customer = make_customer()
    closed = services.conversation_open(
        customer=closed_customer, unit=make_unit(closed_customer.organisation)
    )
    closed.status = ConversationStatus.CLOSED
    closed.save(update_fields=["status"])
    stored, _ = services.message_post(
        conversation=conversation, sender=conversation.customer, body="first", client_id="c-0"
    )
    customer = conversation.customer
    Post = services.Post
    results = services.messages_post_many(
        [
            Post(conversation, customer, "second", "c-1"),
            Post(other, other_customer, "hello", "o-1"),
            Post(conversation, customer, "first again", "c-0"),  # a resend of a stored one
            Post(conversation, customer, "", "c-2"),  # empty
            Post(closed, closed_customer, "anyone?", "x-1"),  # closed
            Post(conversation, customer, "second twice", "c-1"),  # a resend in the same batch
            Post(conversation, customer, "files", "c-3", attachment_ids=[999999]),  # not theirs
            Post(conversation, customer, "third", "c-4"),
        ]
    )
    codes = [getattr(r, "code", None) for r in results]
    assert codes == [None, None, None, "empty", "closed", None, "bad_attachment", None]
    assert results[2] == (stored, False)
    assert results[5][0] is results[0][0] and results[5][1] is False
    assert [(m.client_id, m.seq) for m in conversation.messages.order_by("seq")] == [
        ("c-0", 1),
        ("c-1", 2),
        ("c-4", 3),
    ]
    assert [m.seq for m in other.messages.all()] == [1]
    assert not closed.messages.exists()
    conversation.refresh_from_db()
    other.refresh_from_db()
    assert (conversation.last_seq, other.last_seq) == (3, 1)


@pytest.mark.django_db
def test_a_batch_costs_the_same_statements_for_2_or_40_messages(
    conversation, make_customer, make_unit, django_assert_num_queries
):
    people = [conversation.customer]
    conversations = [conversation]
    for _ in range(3):
        c = make_customer()
        people.append(c)
        conversations.append(services.conversation_open(customer=c, unit=make_unit(c.organisation)))

    def batch(n: int, tag: str) -> list:
        return [
            services.Post(conversations[i % 4], people[i % 4], f"m{i}", f"{tag}-{i}")
            for i in range(n)
        ]

    # A transaction (savepoint in the test), the locks, the duplicate check, the insert and
    # the numbers: five statements plus the savepoint's release, whatever the size.
    with django_assert_num_queries(6):
        assert all(r[1] for r in services.messages_post_many(batch(2, "a")))
    with django_assert_num_queries(6):
        assert all(r[1] for r in services.messages_post_many(batch(40, "b")))
    assert ChatMessage.objects.count() == 42


@pytest.mark.django_db
def test_a_batch_stores_every_column_as_given_and_sets_the_ids(
    conversation, make_customer, make_unit
):
    """The batch's INSERT is hand-built on PostgreSQL: each column must land as the ORM would
    store it (the body encrypted and read back, the bot's payload as JSON, the times), and each
    message gets the id of its own row, whatever order the rows come back in."""
    other_customer = make_customer()
    other = services.conversation_open(
        customer=other_customer, unit=make_unit(other_customer.organisation)
    )
    customer = conversation.customer
    Post = services.Post
    results = services.messages_post_many(
        [
            Post(other, other_customer, "ünïcode ✓ body", "o-1"),
            Post(conversation, customer, "from the customer", "c-1"),
            Post(conversation, None, "from the bot", "b-1", is_bot=True, payload={"a": [1, "x"]}),
            Post(other, other_customer, "second", "o-2"),
        ]
    )
    stored = [r[0] for r in results]
    assert all(m.pk and not m._state.adding for m in stored)
    assert len({m.pk for m in stored}) == 4
    for m in stored:
        row = ChatMessage.objects.get(pk=m.pk)
        assert (row.conversation_id, row.seq, row.client_id, row.body) == (
            m.conversation_id,
            m.seq,
            m.client_id,
            m.body,
        )
        assert (row.sender_id, row.from_customer, row.is_bot, row.payload) == (
            m.sender_id,
            m.from_customer,
            m.is_bot,
            m.payload,
        )
        assert row.created_at == m.created_at
        assert (row.erased, row.delivered_at, row.read_at) == (False, None, None)
    numbers = [(m.client_id, m.seq) for m in stored]
    assert numbers == [("o-1", 1), ("c-1", 1), ("b-1", 2), ("o-2", 2)]
    assert stored[2].payload == {"a": [1, "x"]} and stored[2].sender_id is None
    # The body is stored encrypted, not as the text.
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM chat_chatmessage WHERE id = %s", [stored[0].pk])
        assert "ünïcode" not in cursor.fetchone()[0]


@pytest.mark.django_db
def test_the_transcript_names_the_articles_the_bot_listed_as_links(conversation):
    """The bot's text only introduces its articles (the page lists them as links): the
    transcript, plain text, names them under it."""
    services.message_post(
        conversation=conversation,
        sender=None,
        body="These help articles may solve it right away:",
        client_id="bot-1",
        is_bot=True,
        payload={"articles": [{"title": "Chiller alarm", "url": "/portal/help/en/chiller/"}]},
    )
    text = services.transcript(conversation)
    assert text.endswith(
        "WeldDesk bot: These help articles may solve it right away:\n• Chiller alarm"
    )
