"""WeCom (企业微信) adapters: console (development), in-memory (tests) and WeCom's API.

The API client follows WeCom's application-message interface: an access token from
`/cgi-bin/gettoken?corpid=...&corpsecret=...` (kept in the shared cache for every process,
refreshed by one process at a time: core.shared_token), then
`POST /cgi-bin/message/send?access_token=...` with a text message to the user's WeCom ID.
A token WeCom says is expired (42001, 40014) is fetched again once. WECOM_API_BASE points at
https://qyapi.weixin.qq.com in production and at a fake server on loopback in the tests.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.utils.module_loading import import_string

from core.shared_token import shared_token

EXPIRED = {40014, 42001}


class WeComError(Exception):
    """WeCom refused or could not be reached; the outbox will retry."""


class BaseWeComBackend:
    def send(self, *, to: str, body: str, key: str) -> None:
        raise NotImplementedError


def mask_id(user_id: str) -> str:
    return user_id[:2] + "***" if len(user_id) > 2 else "***"


class ConsoleWeComBackend(BaseWeComBackend):
    def send(self, *, to: str, body: str, key: str) -> None:
        sys.stdout.write(f"WeCom to {mask_id(to)} [{key}]: {body}\n")
        sys.stdout.flush()


class LocmemWeComBackend(BaseWeComBackend):
    """Keep messages in `LocmemWeComBackend.outbox` (tests)."""

    outbox: list[dict] = []

    def send(self, *, to: str, body: str, key: str) -> None:
        type(self).outbox.append({"to": to, "body": body, "key": key})


def call_json(url: str, data: dict | None, *, timeout: float, error: type[Exception]) -> dict:
    """GET (no data) or POST JSON to a platform's API and read its JSON answer; `error` for
    an HTTP error, an unreachable host or an answer that is no JSON (never with the URL,
    which holds the access token)."""
    request = urllib.request.Request(  # noqa: S310 - the base URL comes from settings
        url,
        data=json.dumps(data, ensure_ascii=False).encode() if data is not None else None,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise error(f"the platform answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise error(f"the platform is unreachable ({type(exc).__name__})") from None


class HttpWeComBackend(BaseWeComBackend):
    timeout = 5

    def _call(self, url: str, data: dict | None = None) -> dict:
        return call_json(url, data, timeout=self.timeout, error=WeComError)

    def _fetch_token(self) -> tuple[str, int]:
        query = urllib.parse.urlencode(
            {"corpid": settings.WECOM_CORP_ID, "corpsecret": settings.WECOM_SECRET}
        )
        answer = self._call(f"{settings.WECOM_API_BASE}/cgi-bin/gettoken?{query}")
        if answer.get("errcode", 0) != 0 or not answer.get("access_token"):
            raise WeComError(f"gettoken refused ({answer.get('errcode')})")
        return answer["access_token"], int(answer.get("expires_in", 7200))

    def _access_token(self, *, refused: str | None = None) -> str:
        # One token per WeCom application, whichever process asks.
        key = f"wecom:{settings.WECOM_CORP_ID}:{settings.WECOM_AGENT_ID}"
        return shared_token(key, self._fetch_token, refused=refused)

    def send(self, *, to: str, body: str, key: str) -> None:
        if not (settings.WECOM_CORP_ID and settings.WECOM_SECRET and settings.WECOM_AGENT_ID):
            raise WeComError("WECOM_CORP_ID, WECOM_SECRET and WECOM_AGENT_ID must be set")
        message = {
            "touser": to,
            "msgtype": "text",
            "agentid": int(settings.WECOM_AGENT_ID),
            "text": {"content": body},
            "enable_duplicate_check": 1,  # WeCom drops a resend within its window
            "duplicate_check_interval": 1800,
        }
        refused = None
        for _attempt in (1, 2):
            token = self._access_token(refused=refused)
            query = urllib.parse.urlencode({"access_token": token})
            answer = self._call(f"{settings.WECOM_API_BASE}/cgi-bin/message/send?{query}", message)
            code = answer.get("errcode", 0)
            if code == 0:
                return
            if code not in EXPIRED:
                raise WeComError(f"message/send refused ({code})")
            refused = token
        raise WeComError("the access token was refused twice")


def get_backend() -> BaseWeComBackend:
    return import_string(settings.WECOM_BACKEND)()
