"""SMS adapters: console (development), in-memory (tests) and a generic HTTP provider."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from django.conf import settings
from django.utils.module_loading import import_string


class SMSError(Exception):
    """The provider refused or could not be reached; the outbox will retry."""


class BaseSMSBackend:
    def send(self, *, to: str, body: str, key: str) -> None:
        raise NotImplementedError


def mask_number(number: str) -> str:
    digits = number.strip()
    return digits[:4] + "*" * max(len(digits) - 8, 0) + digits[-4:] if len(digits) > 8 else "****"


class ConsoleSMSBackend(BaseSMSBackend):
    """Print the message to stdout (number masked), like Django's console email backend."""

    def send(self, *, to: str, body: str, key: str) -> None:
        sys.stdout.write(f"SMS to {mask_number(to)} [{key}]: {body}\n")
        sys.stdout.flush()


class LocmemSMSBackend(BaseSMSBackend):
    """Keep messages in `LocmemSMSBackend.outbox` (tests)."""

    outbox: list[dict] = []

    def send(self, *, to: str, body: str, key: str) -> None:
        type(self).outbox.append({"to": to, "body": body, "key": key})


class HttpSMSBackend(BaseSMSBackend):
    """POST {to, body} as JSON to SMS_API_URL with a bearer token and an Idempotency-Key."""

    timeout = 5

    def send(self, *, to: str, body: str, key: str) -> None:
        if not settings.SMS_API_URL:
            raise SMSError("SMS_API_URL is not set")
        request = urllib.request.Request(  # noqa: S310 - URL comes from settings, not users
            settings.SMS_API_URL,
            data=json.dumps({"to": to, "body": body}).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {settings.SMS_API_TOKEN}",
                "Idempotency-Key": key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                if not 200 <= response.status < 300:
                    raise SMSError(f"provider answered {response.status}")
        except urllib.error.HTTPError as exc:
            raise SMSError(f"provider answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SMSError(f"provider unreachable ({type(exc).__name__})") from None


def get_backend() -> BaseSMSBackend:
    return import_string(settings.SMS_BACKEND)()
