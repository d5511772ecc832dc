"""Call events: answer rates, missed callers helped while a line is down or overloaded,
callback tickets deduplicated, caller numbers encrypted and kept out of the audit chain."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from intake.models import Call
from notifications.models import Outbox
from status import services as status_services
from tickets.models import Kind, Priority, Ticket

pytestmark = pytest.mark.django_db

TOKEN = "telephony-token-for-tests-0123456789"
CALLER = "+86 139 1234 5678"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.TELEPHONY_TOKEN = TOKEN


def send(client, *events, token=TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(
        reverse("telephony-events"),
        json.dumps({"events": list(events)}),
        content_type="application/json",
        **headers,
    )


def event(call_id, kind, *, line="east", caller=CALLER, minutes_ago=1):
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return {"call_id": call_id, "line": line, "event": kind, "at": at.isoformat(), "caller": caller}


def missed(n, caller=CALLER, line="east"):
    return [
        event(f"m{n}", "started", caller=caller, line=line),
        event(f"m{n}", "abandoned", caller=caller, line=line),
    ]


def east_down(components, sev):
    status_services.incident_open(
        actor="system",
        severity=sev["sev2"],
        title_en="Hotline East down",
        title_zh="华东热线中断",
        components={components["east"]: "major_outage"},
        body_en="x",
        body_zh="x",
    )


def test_the_token_is_required_and_bad_batches_change_nothing(client):
    assert send(client, event("c1", "started"), token=None).status_code == 401
    assert send(client, event("c1", "started"), token="wrong").status_code == 401
    for bad in (
        {**event("c1", "started"), "event": "ringing"},
        {**event("c1", "started"), "at": "2026-11-25T10:00:00"},  # no offset
        {**event("c1", "started"), "line": "east; drop"},
        {**event("c1", "started"), "call_id": ""},
    ):
        response = send(client, event("ok", "started"), bad)
        assert response.status_code == 400 and response.json()["error"]["message"]
    assert not Call.objects.exists()


def test_answer_rates_are_exported_on_metrics(client, components):
    send(client, event("a1", "started"), event("a1", "answered"), event("a1", "ended"))
    send(client, *missed(1, caller="+86 139 0000 0001"))
    send(client, event("ringing", "started"))  # still ringing: not counted yet
    send(client, event("a1", "answered"))  # a resend changes nothing
    metrics = client.get(reverse("metrics")).content.decode()
    assert 'welddesk_phone_answer_rate{line="east"} 0.5' in metrics
    assert 'welddesk_phone_calls_total{line="east"} 3.0' in metrics
    assert 'welddesk_phone_calls_answered_total{line="east"} 1.0' in metrics


def test_a_missed_call_on_a_healthy_line_is_just_counted(client, components):
    assert send(client, *missed(1)).json() == {"calls": 2, "sms": 0, "callbacks": 0}
    assert not Ticket.objects.exists() and not Outbox.objects.exists()


def test_while_the_line_is_down_each_missed_caller_gets_one_sms_and_one_callback(
    client, components, sev
):
    east_down(components, sev)
    first = send(client, *missed(1)).json()
    assert first == {"calls": 2, "sms": 1, "callbacks": 1}
    again = send(client, *missed(2)).json()  # the same caller tries again
    assert again == {"calls": 2, "sms": 0, "callbacks": 0}
    ticket = Ticket.objects.get()
    assert (ticket.kind, ticket.priority) == (Kind.CALLBACK, Priority.P2)
    assert CALLER in ticket.messages.first().body
    assert ticket.organisation.name.startswith("Unidentified callers")
    assert {c.callback_ticket_id for c in Call.objects.all()} == {ticket.pk}
    sms = Outbox.objects.get(channel="sms")
    assert sms.recipient == CALLER and "/portal/chat/" in sms.body
    assert reverse("portal:ticket_new") in sms.body  # the chat and the portal's fault report
    other = send(client, *missed(3, caller="+86 139 9999 0000")).json()
    assert other == {"calls": 2, "sms": 1, "callbacks": 1}


def test_an_overloaded_line_counts_as_down(client, components, settings):
    settings.TELEPHONY_MIN_CALLS = 5
    send(client, event("ok1", "started"), event("ok1", "answered"))
    for n in range(3):
        send(client, *missed(n, caller=f"+86 139 0000 000{n}"))
    assert not Ticket.objects.exists()  # 1 of 4: not enough calls to judge yet
    result = send(client, *missed(9, caller="+86 139 0000 0009")).json()
    assert result == {"calls": 2, "sms": 1, "callbacks": 1}  # 1 of 5 answered: 20 %


def test_a_known_customer_gets_a_ticket_of_their_organisation(
    client, components, sev, make_customer
):
    customer = make_customer()
    customer.phone = "+8613912345678"  # the same number, written differently
    customer.save()
    east_down(components, sev)
    send(client, *missed(1))
    ticket = Ticket.objects.get()
    assert ticket.organisation == customer.organisation and ticket.requester == customer


def test_caller_numbers_are_encrypted_and_never_in_the_audit_chain(client, components, sev):
    east_down(components, sev)
    send(client, *missed(1))
    with connection.cursor() as cursor:
        cursor.execute("SELECT caller FROM intake_call")
        stored = [row[0] for row in cursor.fetchall()]
    assert stored and all("1234" not in value for value in stored)
    events = [str(e) for e in AuditEvent.objects.values_list("data", "changed_fields")]
    assert all("1234" not in e and "5678" not in e for e in events)
    assert AuditEvent.objects.filter(action="telephony.missed_caller_helped").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_call_reported_twice_at_once_is_one_call():
    """Two first events of one call arriving together: one row, no IntegrityError."""
    from intake import services
    from tickets.tests.test_concurrency import run_together

    at = timezone.now()
    outcomes = run_together(
        [
            lambda kind=kind: services.call_event(
                call_id="race-1", line="east", event=kind, at=at, caller=CALLER
            )
            for kind in ("started", "answered", "started", "ended")
        ]
    )
    assert [o.error for o in outcomes] == [None] * 4
    call = Call.objects.get(call_id="race-1")
    assert call.answered_at is not None and call.ended_at is not None


def test_the_answer_rate_threshold_is_exported_where_the_desk_puts_it(client, settings):
    settings.TELEPHONY_ANSWER_RATE_THRESHOLD = 0.85
    metrics = client.get(reverse("metrics")).content.decode()
    assert "welddesk_phone_answer_rate_threshold 0.85" in metrics
