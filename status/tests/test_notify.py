"""Incident notices: subscribers confirm first; affected customers are told by their
preferences; the first notice goes out at once; a storm of updates after it is coalesced;
resolution is always told, at once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications.models import Outbox
from status import notify, services
from status.models import Subscriber

pytestmark = pytest.mark.django_db


def confirmed(email, language="en", components=()):
    subscriber = notify.subscribe(email=email, components=list(components), language=language)
    notify.confirm(token=subscriber.token)
    return subscriber


def customer_with_ticket(make_customer, make_org, region, **fields):
    from tickets.services.tickets import ticket_open

    customer = make_customer(org=make_org(region=region))
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.save()
    ticket_open(
        actor=customer,
        organisation=customer.organisation,
        requester=customer,
        subject="Laser stopped",
        body="Alarm E30",
    )
    return customer


def open_east_outage(components, sev):
    """The incident most tests tell about: Hotline East down, a sev2, published."""
    return services.incident_open(
        actor="system",
        severity=sev["sev2"],
        title_en="Hotline East unreachable",
        title_zh="华东热线无法接通",
        components={components["east"]: "major_outage"},
        body_en="Use the chat.",
        body_zh="请使用在线客服。",
    )


def notices():
    return Outbox.objects.filter(key__startswith="status:").exclude(
        key__startswith="status:confirm"
    )


def test_subscribing_needs_a_confirmation_by_post(client):
    page = client.get(reverse("status:page")).content.decode()
    assert 'action="/status/subscribe/"' in page
    response = client.post(reverse("status:subscribe"), {"email": "plant@example.com"})
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert subscriber.confirmed_at is None
    confirmation = Outbox.objects.get(key__startswith="status:confirm")
    link = reverse("status:confirm", args=[subscriber.token])
    assert link in confirmation.body and confirmation.recipient == "plant@example.com"
    client.post(reverse("status:subscribe"), {"email": "plant@example.com"})
    assert Outbox.objects.filter(key__startswith="status:confirm").count() == 1  # one an hour
    assert client.get(link).status_code == 200  # a button, nothing changes on GET
    subscriber.refresh_from_db()
    assert subscriber.confirmed_at is None
    client.post(link)
    subscriber.refresh_from_db()
    assert subscriber.confirmed_at is not None
    leave = reverse("status:unsubscribe", args=[subscriber.token])
    client.post(leave)
    assert not Subscriber.objects.exists()
    assert client.post(leave).status_code == 404


def test_one_client_cannot_subscribe_a_crowd(client):
    from django.core.cache import cache

    from status.views import SUBSCRIBE_PER_CLIENT

    cache.clear()
    for n in range(SUBSCRIBE_PER_CLIENT):
        client.post(reverse("status:subscribe"), {"email": f"person{n}@example.com"})
    refused = client.post(
        reverse("status:subscribe"), {"email": "one-more@example.com"}, follow=True
    )
    assert "Too many requests" in refused.content.decode()
    assert Subscriber.objects.count() == SUBSCRIBE_PER_CLIENT
    cache.clear()


def test_a_bad_address_is_refused_and_nothing_is_stored(client):
    response = client.post(reverse("status:subscribe"), {"email": "not an address"}, follow=True)
    assert "Enter a valid e-mail address." in response.content.decode()
    assert not Subscriber.objects.exists() and not Outbox.objects.exists()


def test_the_affected_are_told_in_their_language_and_by_their_preferences(
    components, sev, make_customer, make_org
):
    everyone = confirmed("all@example.com", language="zh-hans")
    confirmed("south-only@example.com", components=[components["south"]])
    notify.subscribe(email="unconfirmed@example.com")
    east = customer_with_ticket(
        make_customer,
        make_org,
        "east",
        notify_sms=True,
        phone="+86 138 0013 8000",
        notify_wecom=True,
        wecom_id="zhang.wei",
    )
    customer_with_ticket(make_customer, make_org, "north")
    start = timezone.now()
    services.incident_open(
        actor="system",
        severity=sev["sev2"],
        title_en="Hotline East unreachable",
        title_zh="华东热线无法接通",
        components={components["east"]: "major_outage"},
        body_en="Use the chat meanwhile.",
        body_zh="请暂时使用在线客服。",
        cause_en="Carrier trunk failure",
        cause_zh="运营商中继故障",
        expected_recovery=start + dt.timedelta(hours=2),
    )
    assert notify.notify_tick(now=start + dt.timedelta(seconds=1)) == 4  # due at once
    rows = {(r.channel, r.recipient): r for r in notices()}
    assert set(rows) == {
        ("email", east.email),
        ("sms", "+86 138 0013 8000"),
        ("wecom", "zhang.wei"),
        ("email", "all@example.com"),
    }
    assert "Carrier trunk failure" in rows[("wecom", "zhang.wei")].body
    to_customer = rows[("email", east.email)]
    assert "Carrier trunk failure" in to_customer.body and "Expected recovery" in to_customer.body
    assert "/status/incidents/" in to_customer.body and "unsubscribe" not in to_customer.body
    chinese = rows[("email", "all@example.com")]
    assert "华东热线无法接通" in chinese.subject and "运营商中继故障" in chinese.body
    assert reverse("status:unsubscribe", args=[everyone.token]) in chinese.body
    assert "Chat and portal work" in rows[("sms", "+86 138 0013 8000")].body


def open_chat_incident(sev, components, django_capture_on_commit_callbacks):
    """Open (and publish) an incident, its transaction committing as in a request."""
    with django_capture_on_commit_callbacks(execute=True):
        return services.incident_open(
            actor="system",
            severity=sev["sev3"],
            title_en="Chat slow",
            title_zh="在线客服缓慢",
            components={components["chat"]: "degraded"},
            body_en="Looking",
            body_zh="查看中",
        )


def test_the_first_notice_is_written_when_the_incident_is_published_without_waiting(
    components, sev, make_customer, make_org, django_capture_on_commit_callbacks
):
    confirmed("ops@example.com", language="zh-hans")
    customer = customer_with_ticket(
        make_customer, make_org, "east", notify_sms=True, phone="+86 138 0013 8000"
    )
    before = timezone.now()
    open_chat_incident(sev, components, django_capture_on_commit_callbacks)
    # No notify tick ran: the publishing transaction's commit sent the first notice.
    told = {(r.channel, r.recipient) for r in notices()}
    assert told == {
        ("email", "ops@example.com"),
        ("email", customer.email),
        ("sms", "+86 138 0013 8000"),
    }
    assert all((r.created_at - before).total_seconds() < 5 for r in notices())
    assert notify.notify_tick(now=timezone.now() + dt.timedelta(minutes=5)) == 0  # told once


def test_a_quick_second_update_is_coalesced_but_the_first_notice_was_not_delayed(
    components, sev, django_capture_on_commit_callbacks
):
    confirmed("ops@example.com")
    start = timezone.now()
    incident = open_chat_incident(sev, components, django_capture_on_commit_callbacks)
    assert notices().count() == 1  # the first notice, at once
    for n, state in enumerate(["identified", "identified", "monitoring", "monitoring"]):
        with django_capture_on_commit_callbacks(execute=True):
            services.incident_update(
                incident=incident, actor="system", state=state, body_en=f"step {n}", body_zh=f"{n}"
            )
    assert notices().count() == 1  # the updates wait for the quiet moment
    assert notify.notify_tick(now=start + dt.timedelta(seconds=10)) == 0  # not quiet yet
    # Quiet, but within ten minutes of the first notice: postponed, not sent.
    assert notify.notify_tick(now=start + dt.timedelta(minutes=3)) == 0
    assert notify.notify_tick(now=start + dt.timedelta(minutes=11)) == 1
    latest = notices().order_by("-pk").first()
    assert "step 3" in latest.body and "step 2" not in latest.body  # the current state only
    assert notices().count() == 2


def test_the_resolution_is_told_at_once_even_inside_the_window_of_a_coalesced_update(
    components, sev, django_capture_on_commit_callbacks
):
    confirmed("ops@example.com")
    incident = open_chat_incident(sev, components, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_update(
            incident=incident, actor="system", state="identified", body_en="Found", body_zh="找到"
        )
    assert notify.notify_tick(now=timezone.now() + dt.timedelta(minutes=2)) == 0  # postponed
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_update(
            incident=incident, actor="system", state="resolved", body_en="Fixed", body_zh="已修复"
        )
    assert notices().count() == 2  # the first notice and the resolution, no tick needed
    assert "resolved" in notices().order_by("-pk").first().body.lower()
    assert notify.notify_tick(now=timezone.now() + dt.timedelta(minutes=20)) == 0  # all told


def test_the_tick_sends_a_due_first_notice_whose_task_was_never_published(components, sev):
    """The broker was down after commit: the beat's tick is the fallback, no quiet wait."""
    confirmed("ops@example.com")
    start = timezone.now()
    incident = services.incident_open(  # no commit callbacks run: the task was not published
        actor="system",
        severity=sev["sev3"],
        title_en="Chat slow",
        title_zh="在线客服缓慢",
        components={components["chat"]: "degraded"},
        body_en="Looking",
        body_zh="查看中",
    )
    assert notify.notify_tick(now=start + dt.timedelta(seconds=1)) == 1
    services.incident_update(
        incident=incident, actor="system", state="resolved", body_en="Fixed", body_zh="已修复"
    )
    assert notify.notify_tick(now=start + dt.timedelta(seconds=2)) == 1  # not held back either


def test_a_customer_who_subscribed_too_gets_one_email(components, sev, make_customer, make_org):
    customer = customer_with_ticket(make_customer, make_org, "east")
    confirmed(customer.email)
    services.incident_open(
        actor="system",
        severity=sev["sev1"],
        title_en="Everything down",
        title_zh="全部中断",
        components={components["chat"]: "major_outage"},  # nationwide: every region
        body_en="x",
        body_zh="x",
    )
    notify.notify_tick(now=timezone.now() + dt.timedelta(seconds=61))
    assert [r.recipient for r in notices()].count(customer.email) == 1


def test_drafts_tell_nobody_until_published(
    components, sev, make_staff, django_capture_on_commit_callbacks
):
    confirmed("ops@example.com")
    draft = services.incident_open(
        actor="system:alertmanager",
        severity=sev["sev3"],
        title_en="Maybe",
        title_zh="也许",
        components={components["chat"]: "degraded"},
        body_en="x",
        body_zh="x",
        publish=False,
    )
    assert notify.notify_tick(now=timezone.now() + dt.timedelta(minutes=5)) == 0
    assert not notices().exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_publish(incident=draft, actor=make_staff(roles=("supervisor",)))
    assert notices().count() == 1  # told when published, at once


def test_notices_are_delivered_through_the_outbox(
    components, sev, django_capture_on_commit_callbacks
):
    confirmed("ops@example.com")
    open_east_outage(components, sev)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notify.notify_tick(now=timezone.now() + dt.timedelta(seconds=61))
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    assert "Hotline East unreachable" in mail.outbox[0].subject


def test_a_customer_with_a_webhook_gets_the_incident_as_json(
    components, sev, make_customer, make_org, settings
):
    import json

    settings.WEBHOOK_ALLOW_PRIVATE = True
    customer_with_ticket(
        make_customer, make_org, "east", notify_webhook_url="https://10.0.0.5/hooks"
    )
    open_east_outage(components, sev)
    notify.notify_tick(now=timezone.now() + dt.timedelta(seconds=61))
    (hook,) = notices().filter(channel="webhook")
    payload = json.loads(hook.body)
    assert hook.recipient == "https://10.0.0.5/hooks"
    assert payload["title"] == {"en": "Hotline East unreachable", "zh": "华东热线无法接通"}
    assert payload["components"] == ["hotline-east"] and payload["state"] == "investigating"
    assert payload["latest_update"]["zh"] == "请使用在线客服。"


def test_a_customer_with_a_browser_subscription_gets_a_push(
    components, sev, make_customer, make_org, settings
):
    import json

    from notifications.models import PushSubscription

    customer = customer_with_ticket(make_customer, make_org, "east")
    subscription = PushSubscription.objects.create(
        user=customer, endpoint="https://push.example/x", endpoint_hash="x", p256dh="k", auth="a"
    )
    open_east_outage(components, sev)
    notify.notify_tick(now=timezone.now() + dt.timedelta(seconds=61))
    (push,) = notices().filter(channel="push")
    assert push.recipient == str(subscription.pk)
    payload = json.loads(push.body)
    assert payload["title"].startswith("Hotline East unreachable") or "华东" in payload["title"]
    assert payload["url"].startswith("/status/incidents/")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_address_subscribing_twice_at_once_is_one_subscriber():
    from tickets.tests.test_concurrency import run_together

    outcomes = run_together([lambda: notify.subscribe(email="twice@example.com")] * 4)
    assert [o.error for o in outcomes] == [None] * 4
    assert Subscriber.objects.count() == 1


def test_a_notice_reads_the_components_once_whatever_the_recipients(components, sev):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(6):
        confirmed(f"person{n}@example.com")
    services.incident_open(
        actor="system",
        severity=sev["sev3"],
        title_en="Chat slow",
        title_zh="在线客服缓慢",
        components={components["chat"]: "degraded"},
        body_en="Looking",
        body_zh="查看中",
    )
    with CaptureQueriesContext(connection) as queries:
        assert notify.notify_tick(now=timezone.now() + dt.timedelta(seconds=61)) == 6
    reads = [q["sql"] for q in queries.captured_queries if "status_incidentcomponent" in q["sql"]]
    assert len(reads) <= 2, reads  # the prefetch (and the subscribers' filter), not 6 more
