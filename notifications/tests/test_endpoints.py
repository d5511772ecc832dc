"""Organisations' webhook endpoints against a partner's system on loopback: registered with a
secret shown once, events fanned out to the endpoints that want them, signed, retried with
backoff and logged, replayed, and never sent to another organisation."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import ApplicationError
from notifications import endpoints, services
from notifications.messages import Event, notify_organisation
from notifications.models import (
    Channel,
    EventType,
    Outbox,
    Status,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from testsupport import webhook_signature_ok

pytestmark = pytest.mark.django_db

ALL = list(EventType.values)
AT = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def run_outbox() -> list[str]:
    """Deliver every due pending row once, in order, as the workers would (rows a delivery
    writes, the fan-out's, included); return the outcomes."""
    done: set[int] = set()
    outcomes = []
    while True:
        due = [
            pk
            for pk in Outbox.objects.filter(
                status=Status.PENDING, next_attempt_at__lte=timezone.now()
            )
            .order_by("pk")
            .values_list("pk", flat=True)
            if pk not in done
        ]
        if not due:
            return outcomes
        for pk in due:
            outcomes.append(services.outbox_deliver(outbox_id=pk))
            done.add(pk)


def time_passes() -> None:
    """Make every waiting retry due now (the backoff has run out)."""
    Outbox.objects.filter(status=Status.PENDING).update(next_attempt_at=timezone.now())


def event(org, key: str = "ticket:1:v1", types=(EventType.TICKET_OPENED,), **data):
    return notify_organisation(
        organisation_id=org.pk,
        key=key,
        events=[
            Event(type=t, data={"ticket": {"reference": "WD-1", **data}}, occurred_at=AT)
            for t in types
        ],
    )


@pytest.fixture
def supervisor(make_staff):
    return make_staff(roles=("supervisor",), email="lead@welddesk.example")


@pytest.fixture
def register(supervisor, webhook_receiver):
    def make(org, path: str = "/hooks/welddesk", events=ALL, **kwargs):
        return endpoints.endpoint_register(
            actor=supervisor,
            organisation=org,
            url=webhook_receiver.url(path),
            events=events,
            **kwargs,
        )

    return make


# ------------------------------------------------------------------- registration


def test_an_endpoint_gets_a_secret_shown_once_and_stored_encrypted(make_org, register):
    org = make_org()
    endpoint, secret = register(org, description="ERP")
    assert secret.startswith("whsec_") and len(secret) > 40
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret FROM notifications_webhookendpoint WHERE id = %s", [endpoint.pk]
        )
        (stored,) = cursor.fetchone()
    assert secret not in stored  # ciphertext at rest
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret  # the desk signs with it
    (registered,) = AuditEvent.objects.filter(action="webhook_endpoint.registered")
    assert registered.target_id == str(endpoint.pk)
    assert secret not in json.dumps(registered.data)
    _, other = register(org)
    assert other != secret  # each endpoint its own


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/x", "only https"),
        ("https://127.0.0.1/hooks", "not on the public internet"),
        ("https://10.1.2.3/hooks", "not on the public internet"),
        ("https://user:pw@example.com/hooks", "no user names"),
        ("ftp://example.com/hooks", "only http and https"),
        ("", "enter the URL"),
    ],
)
def test_an_endpoint_url_the_desk_may_not_call_is_refused(make_org, supervisor, settings, url, why):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.WEBHOOK_ALLOW_HTTP = False
    with pytest.raises(ApplicationError, match=why) as refused:
        endpoints.endpoint_register(actor=supervisor, organisation=make_org(), url=url, events=ALL)
    assert "url" in refused.value.fields
    assert not WebhookEndpoint.objects.exists()


def test_events_must_be_named_and_known(make_org, register):
    org = make_org()
    for events in ([], ["ticket.exploded"]):
        with pytest.raises(ApplicationError) as refused:
            register(org, events=events)
        assert "events" in refused.value.fields


def test_an_organisation_has_a_bounded_number_of_endpoints(make_org, register):
    org = make_org()
    for n in range(endpoints.MAX_ENDPOINTS):
        register(org, path=f"/{n}")
    with pytest.raises(ApplicationError, match="at most"):
        register(org, path="/one-too-many")


# ------------------------------------------------------------------- delivery


def test_an_event_reaches_each_subscribed_endpoint_signed(make_org, register, webhook_receiver):
    org = make_org()
    _all, all_secret = register(org, path="/all")
    _resolved, resolved_secret = register(org, path="/resolved", events=["ticket.resolved"])
    event(
        org, types=(EventType.TICKET_STATUS_CHANGED, EventType.TICKET_RESOLVED), status="resolved"
    )
    assert Outbox.objects.filter(channel=Channel.ORG_EVENT).count() == 1  # one row per write
    assert run_outbox() == ["sent", "sent", "sent", "sent"]  # the event, then three deliveries
    to_all = webhook_receiver.at("/all")
    assert [json.loads(r["body"])["type"] for r in to_all] == [
        "ticket.status_changed",
        "ticket.resolved",
    ]
    (to_resolved,) = webhook_receiver.at("/resolved")
    assert all(webhook_signature_ok(all_secret, r) for r in to_all)
    assert webhook_signature_ok(resolved_secret, to_resolved)
    assert not webhook_signature_ok(all_secret, to_resolved)  # each endpoint its own secret
    body = json.loads(to_resolved["body"])
    assert body["type"] == "ticket.resolved"
    assert body["id"].startswith("evt_") and body["id"] == json.loads(to_all[1]["body"])["id"]
    assert body["delivery"] == to_resolved["headers"]["idempotency-key"]
    assert body["delivery"] != json.loads(to_all[1]["body"])["delivery"]  # one per endpoint
    assert body["occurred_at"] == AT.isoformat()
    assert body["ticket"] == {"reference": "WD-1", "status": "resolved"}
    assert to_resolved["headers"]["x-welddesk-event"] == "ticket.resolved"
    assert to_resolved["headers"]["content-type"] == "application/json"
    attempts = WebhookAttempt.objects.filter(outbox__channel=Channel.ORG_WEBHOOK)
    assert sorted(a.status_code for a in attempts) == [200, 200, 200]


def test_an_organisation_never_receives_another_organisations_events(
    make_org, register, webhook_receiver
):
    ours, theirs = make_org(), make_org(region="south")
    register(ours, path="/ours")
    register(theirs, path="/theirs")
    event(theirs, key="ticket:9:v1", secret_subject="Jinchuan's line")
    run_outbox()
    assert webhook_receiver.at("/ours") == []
    assert len(webhook_receiver.at("/theirs")) == 1
    assert WebhookDelivery.objects.get().endpoint.organisation == theirs


def test_an_event_of_an_organisation_without_endpoints_ends_there(make_org, webhook_receiver):
    org = make_org()
    event(org)
    assert run_outbox() == ["sent"]
    assert not WebhookDelivery.objects.exists() and webhook_receiver.requests == []


def test_an_endpoint_registered_after_the_event_gets_nothing_of_it(
    make_org, register, webhook_receiver
):
    """Events waiting for the worker (a broker outage) go to the endpoints of their time."""
    org = make_org()
    event(org)
    Outbox.objects.update(created_at=timezone.now() - dt.timedelta(minutes=5))
    register(org)
    run_outbox()
    assert webhook_receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_the_same_write_twice_is_one_event_and_a_fan_out_twice_one_delivery(make_org, register):
    org = make_org()
    register(org)
    assert event(org) is not None
    assert event(org) is None  # the same key: written before
    run_outbox()
    row = Outbox.objects.get(channel=Channel.ORG_EVENT)
    Outbox.objects.filter(pk=row.pk).update(status=Status.PENDING)  # delivered again
    services.outbox_deliver(outbox_id=row.pk)
    assert WebhookDelivery.objects.count() == 1


def test_a_failing_endpoint_is_retried_with_backoff_then_marked_failed(
    make_org, register, webhook_receiver, settings
):
    settings.OUTBOX_MAX_ATTEMPTS = 4
    webhook_receiver.answers["/down"] = 503
    org = make_org()
    register(org, path="/down")
    event(org)
    run_outbox()
    delivery = WebhookDelivery.objects.select_related("outbox").get()
    waits = []
    for attempt in range(1, 4):
        row = Outbox.objects.get(pk=delivery.outbox_id)
        assert (row.status, row.attempts) == (Status.PENDING, attempt)
        waits.append(round((row.next_attempt_at - timezone.now()).total_seconds() / 30))
        assert run_outbox() == []  # not due yet: nothing is sent before the wait is over
        time_passes()
        run_outbox()
    row = Outbox.objects.get(pk=delivery.outbox_id)
    assert waits == [1, 2, 4]  # 30 s, 60 s, 120 s
    assert (row.status, row.attempts, row.last_error) == (Status.FAILED, 4, "WebhookError")
    assert len(webhook_receiver.at("/down")) == 4
    log = list(WebhookAttempt.objects.filter(outbox=row).order_by("at", "pk"))
    assert [(a.number, a.status_code, a.error) for a in log] == [
        (n, 503, "receiver answered 503") for n in range(1, 5)
    ]
    time_passes()
    assert run_outbox() == []  # given up


def test_an_unreachable_endpoint_is_logged_without_a_status(make_org, register, supervisor):
    from testsupport import free_port

    org = make_org()
    endpoints.endpoint_update(
        endpoint=register(org)[0], actor=supervisor, url=f"http://127.0.0.1:{free_port()}/gone"
    )
    event(org)
    run_outbox()
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None
    assert attempt.error == "receiver unreachable (ConnectionRefusedError)"


def test_replay_sends_the_same_delivery_again_signed_anew_and_is_audited(
    make_org, register, webhook_receiver, supervisor
):
    org = make_org()
    _endpoint, secret = register(org)
    event(org)
    run_outbox()
    delivery = WebhookDelivery.objects.get()
    services.delivery_replay(delivery=delivery, actor=supervisor)
    row = Outbox.objects.get(pk=delivery.outbox_id)
    assert (row.status, row.attempts) == (Status.PENDING, 0)
    run_outbox()
    first, again = webhook_receiver.at("/hooks/welddesk")
    assert again["body"] == first["body"]  # the same event id and delivery id
    assert again["headers"]["idempotency-key"] == first["headers"]["idempotency-key"]
    assert webhook_signature_ok(secret, again)
    assert WebhookAttempt.objects.filter(outbox=row).count() == 2  # the log keeps both
    (replayed,) = AuditEvent.objects.filter(action="notifications.delivery_replayed")
    assert replayed.actor_ref == f"user:{supervisor.pk}"
    assert replayed.data["status"] == "sent" and replayed.data["event"] == delivery.event_id


def test_a_failed_delivery_replayed_after_the_fix_is_sent(
    make_org, register, webhook_receiver, supervisor, settings
):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    webhook_receiver.answers["/hooks/welddesk"] = 500
    org = make_org()
    register(org)
    event(org)
    run_outbox()
    delivery = WebhookDelivery.objects.get()
    assert delivery.outbox.status == Status.FAILED
    webhook_receiver.answers["/hooks/welddesk"] = 204
    services.delivery_replay(delivery=delivery, actor=supervisor)
    assert run_outbox() == ["sent"]
    assert [a.status_code for a in WebhookAttempt.objects.order_by("pk")] == [500, 204]


def test_a_disabled_endpoint_gets_nothing_and_its_waiting_deliveries_fail(
    make_org, register, webhook_receiver, supervisor
):
    org = make_org()
    endpoint, _secret = register(org)
    event(org, key="a")
    run_outbox()  # delivered
    event(org, key="b")
    services.outbox_deliver(outbox_id=Outbox.objects.get(key="b:org").pk)  # fanned out only
    endpoints.endpoint_update(endpoint=endpoint, actor=supervisor, is_active=False)
    event(org, key="c")
    run_outbox()
    assert len(webhook_receiver.at("/hooks/welddesk")) == 1
    assert WebhookDelivery.objects.count() == 2  # nothing for "c"
    waiting = WebhookDelivery.objects.get(event_id=endpoints.event_id("b", "ticket.opened"))
    waiting.outbox.refresh_from_db()
    assert waiting.outbox.status == Status.FAILED  # at once: retrying cannot help
    assert WebhookAttempt.objects.get(outbox=waiting.outbox).error.startswith("the endpoint")
    with pytest.raises(ApplicationError, match="disabled"):
        services.delivery_replay(delivery=waiting, actor=supervisor)


def test_a_rotated_secret_signs_the_next_delivery(make_org, register, webhook_receiver, supervisor):
    org = make_org()
    endpoint, old = register(org)
    new = endpoints.endpoint_rotate_secret(endpoint=endpoint, actor=supervisor)
    assert new != old and new.startswith("whsec_")
    event(org)
    run_outbox()
    (received,) = webhook_receiver.at("/hooks/welddesk")
    assert webhook_signature_ok(new, received) and not webhook_signature_ok(old, received)
    assert AuditEvent.objects.filter(action="webhook_endpoint.secret_rotated").count() == 1


def test_an_incident_webhook_to_a_customer_is_logged_too(webhook_receiver):
    """The attempt log is the webhook path's, not only the endpoints': a customer's own URL
    (incident notices) is logged alike."""
    row = services._enqueue(
        key="status:1:v1:x:webhook",
        channel=Channel.WEBHOOK,
        recipient=webhook_receiver.url("/mine"),
        body="{}",
    )
    services.outbox_deliver(outbox_id=row.pk)
    (attempt,) = WebhookAttempt.objects.filter(outbox=row)
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")


def test_other_channels_leave_no_attempts():
    row = services._enqueue(key="e", channel="email", recipient="a@b.example", body="x")
    services.outbox_deliver(outbox_id=row.pk)
    assert not WebhookAttempt.objects.exists()


def test_retention_deletes_old_deliveries_with_their_log(make_org, register, webhook_receiver):
    org = make_org()
    register(org)
    event(org)
    run_outbox()
    assert WebhookAttempt.objects.count() == 1
    later = timezone.now() + dt.timedelta(days=1)
    assert services.outbox_expire(created_before=later, dry_run=False) == {"outbox": 2}
    assert not Outbox.objects.exists()
    assert not WebhookDelivery.objects.exists() and not WebhookAttempt.objects.exists()
    assert WebhookEndpoint.objects.count() == 1  # the endpoint stays


def test_an_erasure_deletes_the_deliveries_that_name_the_person(
    make_org, make_customer, register, supervisor
):
    from core.privacy import Marks

    org = make_org()
    person = make_customer(org, full_name="王建国", email="wang@hengrui.example")
    register(org)
    event(org, subject="王建国 reports pores")
    event(org, key="ticket:2:v1", subject="Pores again")
    run_outbox()
    marks = Marks(email=person.email, phone="", name=person.full_name)
    services.notifications_erase_person(user=person, marks=marks, actor=supervisor)
    left = [json.loads(row.body) for row in Outbox.objects.all()]
    assert all("王建国" not in json.dumps(body, ensure_ascii=False) for body in left)
    assert len(left) == 2 and WebhookDelivery.objects.count() == 1
    assert WebhookAttempt.objects.count() == 1
