"""Chat services: numbering and deduplication hold under concurrent senders."""

from __future__ import annotations

import pytest

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
