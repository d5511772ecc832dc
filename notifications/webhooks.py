"""Signed webhooks: a notice POSTed as JSON to a customer's own system, signed with HMAC.

A customer's own URL (their profile) has a signing secret derived from WEBHOOK_SIGNING_KEY and
the URL (`signing_secret`), shown to them in their profile; an organisation's registered
endpoint (notifications.endpoints) has a random secret of its own, stored encrypted and shown
once. Both sign alike. A request carries
`X-WeldDesk-Timestamp` (Unix seconds) and `X-WeldDesk-Signature: sha256=<hex>` where the hex
is HMAC-SHA256(secret, "<timestamp>.<body>"), plus `Idempotency-Key` (the outbox key: a retry
repeats it). The receiver checks the signature and that the timestamp is recent.

The URL is the customer's, so the desk must not be made to call itself or its network
(server-side request forgery): only http(s) to hosts whose every address is public, checked
again at each delivery (DNS may change), the connection made to the very address that was
checked (`core.net.post_pinned`: no second lookup for a rebinding DNS server to answer
differently), and redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings

from core.net import OutboundRefused, post_pinned


class WebhookError(Exception):
    """The receiver refused, could not be reached, or may not be called; retried by the outbox.

    The text names no address (it goes into the delivery log); `status` is the receiver's
    HTTP status when it answered.
    """

    final = False  # True: retrying cannot help, the outbox gives up at once

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EndpointUnavailable(WebhookError):
    """The endpoint was disabled or removed since the delivery was written."""

    final = True


def signing_secret(url: str) -> str:
    key = (settings.WEBHOOK_SIGNING_KEY or f"webhook:{settings.SECRET_KEY}").encode()
    return hmac.new(key, f"welddesk-webhook:{url}".encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def deliver(
    *,
    url: str,
    body: str,
    key: str,
    secret: str | None = None,
    event: str = "",
    timeout: float = 5.0,
) -> int:
    """POST the body signed (with `secret`, else the URL's derived secret); return the
    receiver's 2xx status, or raise WebhookError. `event` names the event type in
    `X-WeldDesk-Event` (an organisation's endpoint), so a receiver can route before parsing."""
    data = body.encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "WeldDesk-Webhook/1",
        "X-WeldDesk-Timestamp": timestamp,
        "X-WeldDesk-Signature": signature(secret or signing_secret(url), timestamp, data),
        "Idempotency-Key": key,
    }
    if event:
        headers["X-WeldDesk-Event"] = event
    try:
        status = post_pinned(url, body=data, headers=headers, timeout=timeout)
    except OutboundRefused as exc:
        raise WebhookError(str(exc)) from None
    except OSError as exc:
        raise WebhookError(f"receiver unreachable ({type(exc).__name__})") from None
    if not 200 <= status < 300:
        raise WebhookError(f"receiver answered {status}", status=status)
    return status
