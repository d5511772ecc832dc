"""WeChat official account (公众号) adapters: console (development), in-memory (tests) and the
official account's customer-service message API.

The API client follows the official account's interfaces: an access token from
`/cgi-bin/token?grant_type=client_credential&appid=...&secret=...` (kept in the shared cache
for every process, refreshed by one process at a time: core.shared_token, as for WeCom), then
`POST /cgi-bin/message/custom/send?access_token=...` with a text message to the follower's
OpenID. A token WeChat says is invalid or expired (40001, 40014, 42001) is fetched again once.
WeChat takes such messages only within 48 hours of the follower's last message (45015 after
that): notifications.messages.answer_on_platform does not write them later. WECHAT_API_BASE
points at https://api.weixin.qq.com in production and at a fake server on loopback in tests.

`media_get` reads a photo a person sent (the platforms' temporary media, kept 3 days) with
the same shared tokens: the platform clients live here, and intake copies photos through it.
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
from notifications.wecom import HttpWeComBackend, WeComError, call_json, mask_id

EXPIRED = {40001, 40014, 42001}


class WeChatError(WeComError):
    """WeChat refused or could not be reached; the outbox will retry."""


class BaseWeChatBackend:
    def send(self, *, to: str, body: str, key: str) -> None:
        raise NotImplementedError


class ConsoleWeChatBackend(BaseWeChatBackend):
    def send(self, *, to: str, body: str, key: str) -> None:
        sys.stdout.write(f"WeChat to {mask_id(to)} [{key}]: {body}\n")
        sys.stdout.flush()


class LocmemWeChatBackend(BaseWeChatBackend):
    """Keep messages in `LocmemWeChatBackend.outbox` (tests)."""

    outbox: list[dict] = []

    def send(self, *, to: str, body: str, key: str) -> None:
        type(self).outbox.append({"to": to, "body": body, "key": key})


class HttpWeChatBackend(BaseWeChatBackend):
    timeout = 5

    def _call(self, url: str, data: dict | None = None) -> dict:
        return call_json(url, data, timeout=self.timeout, error=WeChatError)

    def _fetch_token(self) -> tuple[str, int]:
        query = urllib.parse.urlencode(
            {
                "grant_type": "client_credential",
                "appid": settings.WECHAT_APP_ID,
                "secret": settings.WECHAT_APP_SECRET,
            }
        )
        answer = self._call(f"{settings.WECHAT_API_BASE}/cgi-bin/token?{query}")
        if answer.get("errcode", 0) != 0 or not answer.get("access_token"):
            raise WeChatError(f"token refused ({answer.get('errcode')})")
        return answer["access_token"], int(answer.get("expires_in", 7200))

    def _access_token(self, *, refused: str | None = None) -> str:
        # One token per official account, whichever process asks.
        return shared_token(f"wechat:{settings.WECHAT_APP_ID}", self._fetch_token, refused=refused)

    def send(self, *, to: str, body: str, key: str) -> None:
        if not (settings.WECHAT_APP_ID and settings.WECHAT_APP_SECRET):
            raise WeChatError("WECHAT_APP_ID and WECHAT_APP_SECRET must be set")
        message = {"touser": to, "msgtype": "text", "text": {"content": body}}
        refused = None
        for _attempt in (1, 2):
            token = self._access_token(refused=refused)
            query = urllib.parse.urlencode({"access_token": token})
            url = f"{settings.WECHAT_API_BASE}/cgi-bin/message/custom/send?{query}"
            answer = self._call(url, message)
            code = answer.get("errcode", 0)
            if code == 0:
                return
            if code not in EXPIRED:
                raise WeChatError(f"message/custom/send refused ({code})")
            refused = token
        raise WeChatError("the access token was refused twice")


def get_backend() -> BaseWeChatBackend:
    return import_string(settings.WECHAT_BACKEND)()


def media_get(*, platform: str, media_id: str, limit: int) -> tuple[bytes, str]:
    """The bytes and content type of a media file a person sent (`cgi-bin/media/get` of the
    official account or of the WeCom application), at most `limit` bytes. WeChatError when the
    platform refuses (the media is gone after 3 days), cannot be reached, or the file is
    larger; an expired token is fetched again once."""
    if platform == "wechat":
        base, client = settings.WECHAT_API_BASE, HttpWeChatBackend()
    else:
        base, client = settings.WECOM_API_BASE, HttpWeComBackend()
    refused = None
    for _attempt in (1, 2):
        token = client._access_token(refused=refused)
        query = urllib.parse.urlencode({"access_token": token, "media_id": media_id})
        data, content_type = _download(f"{base}/cgi-bin/media/get?{query}", limit)
        if not content_type.startswith(("application/json", "text/plain")):
            return data, content_type
        try:
            code = json.loads(data or b"{}").get("errcode", -1)
        except ValueError:
            code = -1
        if code not in EXPIRED:
            raise WeChatError(f"media/get refused ({code})")
        refused = token
    raise WeChatError("the access token was refused twice")


def _download(url: str, limit: int) -> tuple[bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=HttpWeChatBackend.timeout * 3) as response:  # noqa: S310 - base URL from settings
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > limit:
                raise WeChatError("the media file is larger than the limit")
            data = response.read(limit + 1)
            content_type = response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        raise WeChatError(f"the platform answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise WeChatError(f"the platform is unreachable ({type(exc).__name__})") from None
    if len(data) > limit:
        raise WeChatError("the media file is larger than the limit")
    return data, content_type
