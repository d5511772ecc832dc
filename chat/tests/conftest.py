"""Chat fixtures: the ticket fixtures (queue with agents), a customer, socket helpers, the
logistics fixtures for the bot's shipment answers, and a conversation to send files in."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse

from logistics.tests.conftest import agent, make_shipment  # noqa: F401 (fixtures)
from tickets.tests.conftest import (  # noqa: F401 (fixtures)
    machine,
    make_unit,
    open_ticket,
    queue_setup,
    sla_setup,
)

# The smallest PNG a browser shows: a chat image.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def world(make_customer, make_unit, queue_setup):  # noqa: F811 (the fixtures above)
    """A customer's open conversation, taken by an online agent: (conversation, customer,
    agent)."""
    from chat import presence, services

    taker = queue_setup[2][0]
    presence.presence_beat(agent=taker)
    customer = make_customer()
    conversation = services.conversation_open(
        customer=customer, unit=make_unit(customer.organisation)
    )
    return conversation, customer, taker


def upload(client: Client, conversation_id: int, name: str, data: bytes):
    """Send a file into the conversation as the browser does."""
    file = io.BytesIO(data)
    file.name = name
    return client.post(reverse("chat:upload", args=[conversation_id]), {"file": file})


@pytest.fixture
def make_chats(db):
    """Conversations written straight to the table (bulk), for the reports: each item a dict
    of the fields that matter (created_at, accepted_at, status, agent, queue, organisation,
    customer); the customer defaults to one of the organisation's."""
    from chat.models import Conversation

    def make(rows: list[dict]) -> list[Conversation]:
        return Conversation.objects.bulk_create(Conversation(**row) for row in rows)

    return make
