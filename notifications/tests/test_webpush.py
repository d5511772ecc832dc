"""Web push against a fake push service on loopback: the payload is encrypted for the
browser's keys (decrypted here with them), the request carries a VAPID signature, and a gone
subscription is deleted."""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.urls import reverse
from py_vapid import Vapid

from notifications.models import PushSubscription, Status
from notifications.services import _enqueue, outbox_deliver, push_subscribe
from testsupport import sign_in


def b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


class PushService(BaseHTTPRequestHandler):
    received: list[dict] = []
    answer = 201

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"headers": dict(self.headers), "body": body})
        self.send_response(type(self).answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def push(settings):
    PushService.received, PushService.answer = [], 201
    server = HTTPServer(("127.0.0.1", 0), PushService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.WEBHOOK_ALLOW_PRIVATE = settings.WEBHOOK_ALLOW_HTTP = True  # loopback, plain http
    vapid = Vapid()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    settings.WEBPUSH_VAPID_PRIVATE_KEY = b64(raw)
    browser_key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    yield {
        "endpoint": f"http://127.0.0.1:{server.server_port}/push/abc123",
        "browser_key": browser_key,
        "p256dh": b64(
            browser_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        ),
        "auth_raw": auth,
        "auth": b64(auth),
    }
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_a_push_is_encrypted_for_the_browser_and_signed(push, make_customer):
    subscription = push_subscribe(
        user=make_customer(), endpoint=push["endpoint"], p256dh=push["p256dh"], auth=push["auth"]
    )
    row = _enqueue(
        key="push-1",
        channel="push",
        recipient=str(subscription.pk),
        body=json.dumps({"title": "华东热线中断", "body": "请使用在线客服", "url": "/status/"}),
    )
    assert outbox_deliver(outbox_id=row.pk) == "sent"
    (got,) = PushService.received
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["authorization"].startswith("vapid t=")
    clear = http_ece.decrypt(
        got["body"],
        private_key=push["browser_key"],
        auth_secret=push["auth_raw"],
        version="aes128gcm",
    )
    assert json.loads(clear) == {
        "title": "华东热线中断",
        "body": "请使用在线客服",
        "url": "/status/",
    }
    assert "华东".encode() not in got["body"]  # encrypted on the wire


@pytest.mark.django_db
def test_a_gone_subscription_is_deleted_and_a_refusal_retried(push, make_customer):
    customer = make_customer()
    subscription = push_subscribe(
        user=customer, endpoint=push["endpoint"], p256dh=push["p256dh"], auth=push["auth"]
    )
    PushService.answer = 500
    row = _enqueue(key="p2", channel="push", recipient=str(subscription.pk), body="{}")
    assert outbox_deliver(outbox_id=row.pk) == "retry"
    PushService.answer = 410
    gone = _enqueue(key="p3", channel="push", recipient=str(subscription.pk), body="{}")
    assert outbox_deliver(outbox_id=gone.pk) == "sent"
    assert not PushSubscription.objects.exists()
    gone.refresh_from_db()
    assert gone.status == Status.SENT


@pytest.mark.django_db
def test_the_profile_offers_push_and_keeps_the_subscription(client, push, make_customer):
    customer = make_customer()
    sign_in(client, customer)
    page = client.get(reverse("portal:profile")).content.decode()
    assert 'id="push"' in page and "portal/push.js" in page
    url = reverse("portal:push")
    body = {"endpoint": push["endpoint"], "keys": {"p256dh": push["p256dh"], "auth": push["auth"]}}
    assert client.post(url, json.dumps(body), content_type="application/json").status_code == 201
    assert client.post(url, json.dumps(body), content_type="application/json").status_code == 201
    assert PushSubscription.objects.get().user == customer  # one row per browser
    bad = client.post(url, json.dumps({"endpoint": 3}), content_type="application/json")
    assert bad.status_code == 400
    assert client.post(url, "not json", content_type="application/json").status_code == 400
    gone = client.delete(
        url, json.dumps({"endpoint": push["endpoint"]}), content_type="application/json"
    )
    assert gone.status_code == 200 and not PushSubscription.objects.exists()


@pytest.mark.django_db
def test_without_a_vapid_key_the_profile_offers_no_push(client, make_customer, settings):
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    sign_in(client, make_customer())
    assert 'id="push"' not in client.get(reverse("portal:profile")).content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_browser_subscribing_twice_at_once_is_one_row(push, make_customer):
    from tickets.tests.test_concurrency import run_together

    customer = make_customer()
    outcomes = run_together(
        [
            lambda: push_subscribe(
                user=customer, endpoint=push["endpoint"], p256dh=push["p256dh"], auth=push["auth"]
            )
        ]
        * 4
    )
    assert [o.error for o in outcomes] == [None] * 4
    assert PushSubscription.objects.count() == 1
