"""The WeCom client against a fake WeCom API on loopback: token, send, expiry, refusal."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.cache import cache

from notifications.models import Outbox, Status
from notifications.services import _enqueue, outbox_deliver
from notifications.wecom import HttpWeComBackend, WeComError


class FakeWeCom(BaseHTTPRequestHandler):
    """WeCom's gettoken and message/send, as far as the desk uses them."""

    tokens_issued: list[str] = []
    sent: list[dict] = []
    expire_next = False  # answer the next send with 42001 (token expired)
    refuse_with = 0  # answer sends with this errcode (0: accept)

    def _answer(self, data: dict) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/cgi-bin/gettoken" or query.get("corpsecret") != ["s3cret"]:
            self._answer({"errcode": 40001, "errmsg": "invalid credential"})
            return
        token = f"token-{len(self.tokens_issued) + 1}"
        type(self).tokens_issued.append(token)
        self._answer({"errcode": 0, "access_token": token, "expires_in": 7200})

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        token = urllib.parse.parse_qs(url.query).get("access_token", [""])[0]
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if type(self).expire_next:
            type(self).expire_next = False
            self._answer({"errcode": 42001, "errmsg": "access_token expired"})
            return
        if type(self).refuse_with:
            self._answer({"errcode": type(self).refuse_with, "errmsg": "refused"})
            return
        if token != self.tokens_issued[-1]:
            self._answer({"errcode": 40014, "errmsg": "invalid access_token"})
            return
        type(self).sent.append({"token": token, **payload})
        self._answer({"errcode": 0, "errmsg": "ok"})

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def wecom(settings):
    cache.clear()  # the token lives in the shared cache; each test starts without one
    FakeWeCom.tokens_issued, FakeWeCom.sent = [], []
    FakeWeCom.expire_next, FakeWeCom.refuse_with = False, 0
    server = HTTPServer(("127.0.0.1", 0), FakeWeCom)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.WECOM_BACKEND = "notifications.wecom.HttpWeComBackend"
    settings.WECOM_API_BASE = f"http://127.0.0.1:{server.server_port}"
    settings.WECOM_CORP_ID, settings.WECOM_SECRET, settings.WECOM_AGENT_ID = (
        "corp",
        "s3cret",
        "1000002",
    )
    yield FakeWeCom
    server.shutdown()
    server.server_close()


def test_messages_go_out_with_one_cached_token(wecom):
    backend = HttpWeComBackend()
    backend.send(to="zhang.wei", body="线路已恢复", key="k1")
    backend.send(to="li.na", body="Line restored", key="k2")
    assert wecom.tokens_issued == ["token-1"]
    assert [(m["touser"], m["text"]["content"]) for m in wecom.sent] == [
        ("zhang.wei", "线路已恢复"),
        ("li.na", "Line restored"),
    ]
    assert wecom.sent[0]["agentid"] == 1000002 and wecom.sent[0]["msgtype"] == "text"


def test_an_expired_token_is_fetched_again_once(wecom):
    backend = HttpWeComBackend()
    backend.send(to="zhang.wei", body="one", key="k1")
    wecom.expire_next = True
    backend.send(to="zhang.wei", body="two", key="k2")
    assert wecom.tokens_issued == ["token-1", "token-2"]
    assert [m["text"]["content"] for m in wecom.sent] == ["one", "two"]


def test_a_refusal_raises_and_a_wrong_secret_too(wecom, settings):
    wecom.refuse_with = 81013  # user not in the app's visible range
    with pytest.raises(WeComError, match="81013"):
        HttpWeComBackend().send(to="nobody", body="x", key="k")
    cache.clear()  # no token: the wrong secret is used to ask for one
    settings.WECOM_SECRET = "wrong"
    with pytest.raises(WeComError, match="gettoken"):
        HttpWeComBackend().send(to="zhang.wei", body="x", key="k")


@pytest.mark.django_db
def test_the_outbox_delivers_wecom_rows_and_retries_a_refusal(wecom):
    row = _enqueue(
        key="wecom-test-1", channel="wecom", recipient="zhang.wei", body="华东热线已恢复"
    )
    assert outbox_deliver(outbox_id=row.pk) == "sent"
    assert wecom.sent[-1]["touser"] == "zhang.wei"
    wecom.refuse_with = 60020
    retry = _enqueue(key="wecom-test-2", channel="wecom", recipient="li.na", body="x")
    assert outbox_deliver(outbox_id=retry.pk) == "retry"
    retry.refresh_from_db()
    assert retry.status == Status.PENDING and retry.last_error == "WeComError"
    assert Outbox.objects.get(pk=row.pk).status == Status.SENT


def test_every_process_sends_with_the_one_shared_token(wecom):
    """Each process (here a thread with a backend of its own) finds the token in the shared
    cache; asking WeCom for one per process would expire the others'."""
    errors = []

    def send(n):
        try:
            HttpWeComBackend().send(to="zhang.wei", body=f"m{n}", key=f"k{n}")
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == [] and len(wecom.sent) == 6
    assert wecom.tokens_issued == ["token-1"]
    assert cache.get("shared-token:wecom:corp:1000002") == "token-1"


def test_a_token_refused_elsewhere_is_replaced_once_for_everyone(wecom):
    HttpWeComBackend().send(to="zhang.wei", body="one", key="k1")
    wecom.expire_next = True
    HttpWeComBackend().send(to="zhang.wei", body="two", key="k2")
    HttpWeComBackend().send(to="li.na", body="three", key="k3")
    assert wecom.tokens_issued == ["token-1", "token-2"]
    assert cache.get("shared-token:wecom:corp:1000002") == "token-2"


def test_with_the_cache_down_messages_still_go_out(wecom, monkeypatch):
    from core import softcache

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("redis is away")

            return fail

    monkeypatch.setattr(softcache, "cache", Down())
    HttpWeComBackend().send(to="zhang.wei", body="still", key="k1")
    assert [m["text"]["content"] for m in wecom.sent] == ["still"]
