"""Web push to a customer's browser: the payload encrypted for the subscription (RFC 8291,
aes128gcm) and the request signed with the desk's VAPID key (RFC 8292).

WEBPUSH_VAPID_PRIVATE_KEY (base64url of the raw 32-byte key, or PEM) turns it on; without it
the portal offers no browser notifications. A push service answering 404 or 410 says the
subscription is gone: it is deleted and the row counts as done.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid

from core.net import OutboundRefused, post_pinned


class PushError(Exception):
    """The push service refused or could not be reached; the outbox will retry."""


class PushGone(Exception):
    """The subscription no longer exists (404/410)."""


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64encode(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def enabled() -> bool:
    return bool(settings.WEBPUSH_VAPID_PRIVATE_KEY)


def _vapid() -> Vapid:
    key = settings.WEBPUSH_VAPID_PRIVATE_KEY.strip()
    if key.startswith("-----BEGIN"):
        return Vapid.from_pem(key.encode())
    return Vapid.from_raw(key.encode())


def public_key() -> str:
    """The application server key the browser subscribes with (base64url, uncompressed)."""
    point = _vapid().public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64encode(point)


def send(*, endpoint: str, p256dh: str, auth: str, payload: dict, ttl: int = 3600) -> None:
    """Encrypt and POST one notice. The endpoint is the browser's choice, so it is called like
    a webhook (`core.net.post_pinned`): public addresses only, the connection made to the
    address that was checked, and a redirect is a refusal, never followed."""
    server_key = ec.generate_private_key(ec.SECP256R1())
    body = http_ece.encrypt(
        json.dumps(payload, ensure_ascii=False).encode(),
        private_key=server_key,
        dh=_b64decode(p256dh),
        auth_secret=_b64decode(auth),
        version="aes128gcm",
    )
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + 12 * 3600,
        "sub": settings.WEBPUSH_SUBJECT,
    }
    headers = {str(k): str(v) for k, v in _vapid().sign(claims).items()}
    try:
        status = post_pinned(
            endpoint,
            body=body,
            headers={
                **headers,
                "TTL": str(ttl),
                "Urgency": "high",
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
            },
            timeout=5,
        )
    except OutboundRefused as exc:
        raise PushError(str(exc)) from None
    except OSError as exc:
        raise PushError(f"push service unreachable ({type(exc).__name__})") from None
    if status in (404, 410):
        raise PushGone()
    if not 200 <= status < 300:
        raise PushError(f"push service answered {status}")
