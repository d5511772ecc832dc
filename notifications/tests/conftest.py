"""Notifications fixtures: a fake WeChat/WeCom API on loopback, reached by the real clients."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache

WECHAT_APP_ID, WECHAT_SECRET = "wxdesk0000000001", "wechat-s3cret"
WECOM_CORP_ID, WECOM_SECRET, WECOM_AGENT_ID = "wwdesk0000000001", "wecom-s3cret", "1000002"


class FakePlatformAPI(BaseHTTPRequestHandler):
    """The official account's token and customer-service send, and WeCom's gettoken and
    application send, and both platforms' media/get, as far as the desk uses them. Tokens are
    issued per platform; a call with any token but the latest of its platform is refused (the
    platforms invalidate the previous token when they issue a new one)."""

    tokens: dict[str, list[str]] = {}
    sent: list[dict] = []
    media: dict[str, tuple[bytes, str]] = {}  # media id -> (bytes, content type)
    expire_next = False  # answer the next send with 42001 (token expired)
    refuse_with = 0  # answer sends with this errcode (0: accept)

    @classmethod
    def reset(cls) -> None:
        cls.tokens, cls.sent, cls.media = {"wechat": [], "wecom": []}, [], {}
        cls.expire_next, cls.refuse_with = False, 0

    def _answer(self, data: dict) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _issue(self, platform: str) -> None:
        issued = type(self).tokens[platform]
        issued.append(f"{platform}-token-{len(issued) + 1}")
        self._answer({"errcode": 0, "access_token": issued[-1], "expires_in": 7200})

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/cgi-bin/token" and query == {
            "grant_type": "client_credential",
            "appid": WECHAT_APP_ID,
            "secret": WECHAT_SECRET,
        }:
            self._issue("wechat")
        elif url.path == "/cgi-bin/media/get":
            self._media(query)
        elif url.path == "/cgi-bin/gettoken" and query == {
            "corpid": WECOM_CORP_ID,
            "corpsecret": WECOM_SECRET,
        }:
            self._issue("wecom")
        else:
            self._answer({"errcode": 40001, "errmsg": "invalid credential"})

    def _media(self, query: dict) -> None:
        token = query.get("access_token", "")
        platform = token.split("-token-")[0]
        found = type(self).media.get(query.get("media_id", ""))
        if platform not in self.tokens or token != (self.tokens[platform] or [""])[-1]:
            self._answer({"errcode": 40001, "errmsg": "invalid credential"})
        elif found is None:
            self._answer({"errcode": 40007, "errmsg": "invalid media_id"})
        else:
            data, content_type = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        token = urllib.parse.parse_qs(url.query).get("access_token", [""])[0]
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        platform = {"/cgi-bin/message/custom/send": "wechat", "/cgi-bin/message/send": "wecom"}
        platform = platform.get(url.path)
        cls = type(self)
        if platform is None:
            self._answer({"errcode": 48001, "errmsg": "api unauthorized"})
        elif cls.expire_next:
            cls.expire_next = False
            self._answer({"errcode": 42001, "errmsg": "access_token expired"})
        elif cls.refuse_with:
            self._answer({"errcode": cls.refuse_with, "errmsg": "refused"})
        elif not cls.tokens[platform] or token != cls.tokens[platform][-1]:
            self._answer({"errcode": 40001, "errmsg": "invalid access_token"})
        else:
            cls.sent.append({"platform": platform, "token": token, **payload})
            self._answer({"errcode": 0, "errmsg": "ok"})

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def platform_api(settings):
    """The fake API on loopback, with the desk's WeChat and WeCom clients pointed at it."""
    cache.clear()  # the tokens live in the shared cache; each test starts without one
    FakePlatformAPI.reset()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePlatformAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    settings.WECHAT_BACKEND = "notifications.wechat.HttpWeChatBackend"
    settings.WECHAT_API_BASE, settings.WECHAT_APP_ID = base, WECHAT_APP_ID
    settings.WECHAT_APP_SECRET = WECHAT_SECRET
    settings.WECOM_BACKEND = "notifications.wecom.HttpWeComBackend"
    settings.WECOM_API_BASE, settings.WECOM_CORP_ID = base, WECOM_CORP_ID
    settings.WECOM_SECRET, settings.WECOM_AGENT_ID = WECOM_SECRET, WECOM_AGENT_ID
    yield FakePlatformAPI
    server.shutdown()
    server.server_close()
