"""Signed webhooks against a receiver on loopback: signature, idempotency key, no redirects,
and the guard against calling the desk's own network."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from notifications.models import Status
from notifications.services import _enqueue, outbox_deliver
from notifications.webhooks import WebhookError, deliver, signing_secret


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    answer = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/inside")
        else:
            self.send_response(type(self).answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    Receiver.received, Receiver.answer = [], 200
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback in the tests
    settings.WEBHOOK_ALLOW_HTTP = True
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_a_notice_is_signed_and_the_receiver_can_check_it(receiver):
    url = f"{receiver}/hooks/welddesk"
    row = _enqueue(key="hook-1", channel="webhook", recipient=url, body='{"id": 7}')
    assert outbox_deliver(outbox_id=row.pk) == "sent"
    (got,) = Receiver.received
    headers = {k.lower(): v for k, v in got["headers"].items()}
    timestamp = headers["x-welddesk-timestamp"]
    expected = hmac.new(
        signing_secret(url).encode(), timestamp.encode() + b"." + got["body"], hashlib.sha256
    ).hexdigest()
    assert headers["x-welddesk-signature"] == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 60
    assert headers["idempotency-key"] == "hook-1" and got["body"] == b'{"id": 7}'
    assert signing_secret(url) != signing_secret(f"{receiver}/other")  # one secret per URL


@pytest.mark.django_db
def test_a_refusal_is_retried_by_the_outbox(receiver):
    Receiver.answer = 500
    row = _enqueue(key="hook-2", channel="webhook", recipient=f"{receiver}/hook", body="{}")
    assert outbox_deliver(outbox_id=row.pk) == "retry"
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.last_error == "WebhookError"


def test_redirects_are_not_followed(receiver):
    with pytest.raises(WebhookError, match="302"):
        deliver(url=f"{receiver}/moved", body="{}", key="k")
    assert [r["path"] for r in Receiver.received] == ["/moved"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9/hook", "only https"),
        ("https://127.0.0.1/hook", "not on the public internet"),
        ("https://10.1.2.3/hook", "not on the public internet"),
        ("https://[::1]/hook", "not on the public internet"),
        ("https://169.254.169.254/latest/meta-data", "not on the public internet"),
        ("https://user:pw@example.com/hook", "no user names"),
        ("ftp://example.com/hook", "only http and https"),
    ],
)
def test_the_desk_never_calls_its_own_network(url, why, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.WEBHOOK_ALLOW_HTTP = False
    with pytest.raises(WebhookError, match=why):
        deliver(url=url, body="{}", key="k")
