"""A delivery whose database connection dies after the message went out is not sent again."""

from __future__ import annotations

import pytest
from django.db import connection, connections

from notifications import services
from notifications.models import Channel, Outbox, Status


def terminate_backend_of(wrapper) -> None:
    """pg_terminate_backend on another connection's server process, as an operator would."""
    pid = wrapper.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_backend_is_terminated_after_the_send_is_recorded_sent_once(
    monkeypatch, settings
):
    """The backend holding the row's lock is terminated right after the provider accepted the
    message: the transaction that would mark it sent is lost. The row is still marked sent
    (on a new connection), so neither a second task nor the sweep sends it again."""
    row = services._enqueue(
        key="drill:terminated",
        channel=Channel.EMAIL,
        recipient="ops@factory.example",
        subject="Wire feed",
        body="Stopped.",
        hand_over=False,
    )
    sent: list[str] = []

    def send_then_lose_the_connection(outbox_row: Outbox) -> None:
        sent.append(outbox_row.key)
        terminate_backend_of(connection)

    monkeypatch.setattr(services, "_send", send_then_lose_the_connection)
    assert services.outbox_deliver(outbox_id=row.pk) == "sent"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 1, "")
    assert row.sent_at is not None
    assert services.outbox_deliver(outbox_id=row.pk) == "already-sent"
    settings.OUTBOX_SWEEP_AFTER_SECONDS = 0
    assert services.outbox_sweep() == 0
    assert sent == ["drill:terminated"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backend_terminated_before_the_send_leaves_the_row_pending(monkeypatch):
    """Lost before anything went out: the task fails and the row waits for the sweep."""
    from django.db import OperationalError

    row = services._enqueue(
        key="drill:before",
        channel=Channel.EMAIL,
        recipient="ops@factory.example",
        body="Stopped.",
        hand_over=False,
    )
    sent: list[str] = []
    real_send = services._send

    def lose_the_connection_then_send(outbox_row: Outbox) -> None:
        terminate_backend_of(connection)
        connection.cursor().execute("SELECT 1")  # the worker notices before sending
        sent.append(outbox_row.key)
        real_send(outbox_row)

    monkeypatch.setattr(services, "_send", lose_the_connection_then_send)
    with pytest.raises(OperationalError):
        services.outbox_deliver(outbox_id=row.pk)
    assert sent == []
    connection.close()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.PENDING, 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_whose_fan_out_is_lost_with_the_connection_is_fanned_out_again(
    monkeypatch, make_org, make_staff, webhook_receiver
):
    """An organisation's event row "sends" nothing out: its fan-out writes the deliveries in
    the row's own transaction. Lost with the connection, the row must stay pending (not be
    recorded sent like an e-mail that left), and the next attempt writes the deliveries."""
    import json

    from django.db import OperationalError

    from notifications import endpoints
    from notifications.models import WebhookDelivery

    org = make_org()
    endpoints.endpoint_register(
        actor=make_staff(roles=("supervisor",)),
        organisation=org,
        url=webhook_receiver.url("/erp"),
        events=["ticket.opened"],
    )
    notice = {
        "organisation": org.pk,
        "events": [
            {
                "id": "evt_1",
                "type": "ticket.opened",
                "occurred_at": "2026-03-02T01:00:00+00:00",
                "data": {"ticket": {"reference": "WD-1"}},
            }
        ],
    }
    row = services._enqueue(
        key="ticket:1:v1:org",
        channel=Channel.ORG_EVENT,
        recipient=f"organisation:{org.pk}",
        body=json.dumps(notice),
        hand_over=False,
    )
    real_fan_out = services._fan_out

    def fan_out_then_lose_the_connection(outbox_row: Outbox) -> None:
        real_fan_out(outbox_row)
        terminate_backend_of(connection)

    monkeypatch.setattr(services, "_fan_out", fan_out_then_lose_the_connection)
    with pytest.raises(OperationalError):
        services.outbox_deliver(outbox_id=row.pk)
    connection.close()
    row.refresh_from_db()
    assert row.status == Status.PENDING and not WebhookDelivery.objects.exists()
    monkeypatch.setattr(services, "_fan_out", real_fan_out)
    assert services.outbox_deliver(outbox_id=row.pk) == "sent"
    assert WebhookDelivery.objects.count() == 1
    assert len(webhook_receiver.at("/erp")) == 1  # handed over at commit (eager in tests)
