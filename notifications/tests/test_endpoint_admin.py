"""Supervisors' screens of organisations' webhooks: registering an endpoint (the secret shown
once), the delivery log with each attempt, and the replay button (POST with CSRF, audited)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from notifications import endpoints, services
from notifications.messages import Event, notify_organisation
from notifications.models import EventType, Outbox, Status, WebhookDelivery, WebhookEndpoint
from testsupport import sign_in

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
LOG = "/admin/notifications/webhookdelivery/"


def run_outbox() -> None:
    for _round in range(2):  # the event rows, then the deliveries they fan out to
        for pk in (
            Outbox.objects.filter(status=Status.PENDING).order_by("pk").values_list("pk", flat=True)
        ):
            services.outbox_deliver(outbox_id=pk)


@pytest.fixture
def supervisor(staff_client):
    return staff_client(roles=("supervisor",), email="lead@welddesk.example")


@pytest.fixture
def delivered(make_org, make_staff, webhook_receiver):
    """An organisation with an endpoint that has received one event."""

    def make(n: int = 1, *, answer: int = 200):
        org = make_org()
        webhook_receiver.answers["/erp"] = answer
        endpoints.endpoint_register(
            actor=make_staff(roles=("supervisor",)),
            organisation=org,
            url=webhook_receiver.url("/erp"),
            events=EventType.values,
        )
        for i in range(n):
            notify_organisation(
                organisation_id=org.pk,
                key=f"ticket:{org.pk}:{i}",
                events=[
                    Event(
                        type=EventType.TICKET_OPENED,
                        data={"ticket": {"reference": f"WD-{i}"}},
                        occurred_at=AT,
                    )
                ],
            )
        run_outbox()
        return org

    return make


def test_a_supervisor_registers_an_endpoint_and_sees_its_secret_once(
    supervisor, make_org, webhook_receiver
):
    client, _user = supervisor
    org = make_org()
    add = "/admin/notifications/webhookendpoint/add/"
    assert client.get(add).status_code == 200
    response = client.post(
        add,
        {
            "organisation": org.pk,
            "url": webhook_receiver.url("/erp"),
            "description": "ERP",
            "events": ["ticket.opened", "ticket.resolved"],
        },
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["ticket.opened", "ticket.resolved"]
    page = response.content.decode()
    assert endpoint.secret in page  # shown once, after saving
    again = client.get(f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/")
    assert endpoint.secret not in again.content.decode()
    assert AuditEvent.objects.filter(action="webhook_endpoint.registered").count() == 1


def test_a_url_the_desk_may_not_call_is_an_error_on_the_form(supervisor, make_org, settings):
    client, _user = supervisor
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = client.post(
        "/admin/notifications/webhookendpoint/add/",
        {"organisation": make_org().pk, "url": "https://127.0.0.1/x", "events": ["ticket.opened"]},
    )
    assert response.status_code == 200
    assert "not on the public internet" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_log_shows_each_attempt_of_a_delivery(supervisor, delivered, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    client, _user = supervisor
    delivered(answer=503)
    Outbox.objects.filter(status=Status.PENDING).update(next_attempt_at=AT)
    run_outbox()  # the second and last attempt
    delivery = WebhookDelivery.objects.get()
    listing = client.get(LOG).content.decode()
    assert delivery.event_id in listing and "Failed" in listing
    page = client.get(f"{LOG}{delivery.pk}/change/").content.decode()
    assert page.count("receiver answered 503") == 2 and "WD-0" in page
    assert "Replay this delivery" in page
    # Reading a delivery (its payload) is audited like every page of customer data.
    assert AuditEvent.objects.filter(
        action="webhookdelivery.viewed", target_id=str(delivery.pk)
    ).exists()


def test_the_replay_button_posts_with_csrf_and_queues_the_delivery_again(
    supervisor, delivered, webhook_receiver
):
    _client, user = supervisor
    delivered()
    delivery = WebhookDelivery.objects.get()
    replay = reverse("admin:notifications_webhookdelivery_replay", args=[delivery.pk])
    client = sign_in(Client(enforce_csrf_checks=True), user)
    assert client.get(replay).status_code == 405
    assert client.post(replay).status_code == 403  # no CSRF token
    page = client.get(f"{LOG}{delivery.pk}/change/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(replay, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"].endswith(f"{delivery.pk}/change/")
    assert Outbox.objects.get(pk=delivery.outbox_id).status == Status.PENDING
    assert AuditEvent.objects.filter(
        action="notifications.delivery_replayed", actor_ref=f"user:{user.pk}"
    ).exists()
    run_outbox()
    assert len(webhook_receiver.at("/erp")) == 2


def test_an_agent_sees_no_log_and_cannot_replay(staff_client, delivered):
    delivered()
    delivery = WebhookDelivery.objects.get()
    client, _agent = staff_client(roles=("agent",))
    assert client.get(LOG).status_code == 403
    replay = reverse("admin:notifications_webhookdelivery_replay", args=[delivery.pk])
    assert client.post(replay).status_code == 403
    assert Outbox.objects.get(pk=delivery.outbox_id).status == Status.SENT
    assert client.get("/admin/notifications/webhookendpoint/").status_code == 403


def test_the_log_costs_the_same_for_one_delivery_and_fifty(supervisor, delivered):
    client, _user = supervisor
    delivered(1)
    client.get(LOG)
    with CaptureQueriesContext(connection) as one:
        assert client.get(LOG).status_code == 200
    delivered(49)
    assert WebhookDelivery.objects.count() == 50
    with CaptureQueriesContext(connection) as fifty:
        assert client.get(LOG).status_code == 200
    assert len(fifty) == len(one)


def test_a_supervisor_changes_an_endpoint_and_rotates_its_secret(
    supervisor, make_org, webhook_receiver
):
    client, user = supervisor
    org = make_org()
    endpoint, old = endpoints.endpoint_register(
        actor=user, organisation=org, url=webhook_receiver.url("/erp"), events=["ticket.opened"]
    )
    page = f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/"
    assert client.get(page).status_code == 200
    response = client.post(
        page,
        {
            "url": webhook_receiver.url("/erp/v2"),
            "description": "ERP v2",
            "events": ["ticket.resolved", "ticket.answered"],
            "is_active": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events, endpoint.is_active) == (
        webhook_receiver.url("/erp/v2"),
        ["ticket.answered", "ticket.resolved"],
        False,
    )
    (changed,) = AuditEvent.objects.filter(action="webhook_endpoint.changed")
    assert changed.data["changed"] == ["description", "events", "is_active", "url"]
    assert "/erp/v2" not in str(changed.data)  # the address is named, not copied
    shown = client.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "rotate_secrets", "_selected_action": [endpoint.pk]},
        follow=True,
    ).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret in shown
