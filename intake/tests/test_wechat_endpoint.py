"""The WeChat and WeCom callbacks as the platforms call them: the URL check, messages encrypted
and signed by a fake platform, refusals (signature, timestamp, size, XML) that are 4xx and
store nothing, and a message delivered twice stored once."""

from __future__ import annotations

import time
import urllib.parse

import pytest

from accounts.models import PlatformIdentity
from intake.models import PlatformMessage
from intake.wechat.crypto import REPLAY_WINDOW_SECONDS, signature
from tickets.models import Message, Ticket

from .conftest import WECHAT_TOKEN, WECOM_TOKEN, FakePlatform

pytestmark = pytest.mark.django_db

OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


def _get(client, path: str, **params):
    return client.get(f"{path}?{urllib.parse.urlencode(params)}")


def _nothing_stored() -> bool:
    return not (
        PlatformMessage.objects.exists()
        or PlatformIdentity.objects.exists()
        or Ticket.objects.exists()
    )


# ------------------------------------------------------------------------ URL check


def test_the_official_account_url_check_answers_its_echo_when_signed(client, callbacks):
    now = str(int(time.time()))
    signed = signature(WECHAT_TOKEN, now, "42")
    path = "/api/v1/wechat/callback"
    answer = _get(client, path, signature=signed, timestamp=now, nonce="42", echostr="58462948")
    assert answer.status_code == 200 and answer.content == b"58462948"
    assert answer["Content-Type"].startswith("text/plain")
    forged = _get(client, path, signature="0" * 40, timestamp=now, nonce="42", echostr="1")
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "bad_signature"
    old = str(int(time.time()) - REPLAY_WINDOW_SECONDS - 60)
    stale = _get(
        client,
        path,
        signature=signature(WECHAT_TOKEN, old, "42"),
        timestamp=old,
        nonce="42",
        echostr="1",
    )
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "stale"
    html = _get(client, path, signature=signed, timestamp=now, nonce="42", echostr="<b>x</b>")
    assert html.status_code == 400  # only a plain echo string is reflected


def test_the_wecom_url_check_answers_the_decrypted_echo(client, callbacks, wecom):
    now = str(int(time.time()))
    echo = wecom.crypt.encrypt(b"1288432023552776189")
    signed = signature(WECOM_TOKEN, now, "7", echo)
    path = "/api/v1/wecom/callback"
    answer = _get(client, path, msg_signature=signed, timestamp=now, nonce="7", echostr=echo)
    assert answer.status_code == 200 and answer.content == b"1288432023552776189"
    forged = _get(client, path, msg_signature="f" * 40, timestamp=now, nonce="7", echostr=echo)
    assert forged.status_code == 403


def test_a_callback_without_its_token_is_off_and_a_bad_key_is_a_503(client, settings):
    settings.WECHAT_TOKEN = settings.WECOM_CALLBACK_TOKEN = ""
    for path in ("/api/v1/wechat/callback", "/api/v1/wecom/callback"):
        for answer in (client.get(path), client.generic("POST", path, b"<xml/>")):
            assert answer.status_code == 404
            assert answer.json()["error"]["code"] == "not_configured"
    settings.WECOM_CALLBACK_TOKEN, settings.WECOM_CORP_ID = "t", "ww1"
    settings.WECOM_ENCODING_AES_KEY = "too-short"
    answer = client.get("/api/v1/wecom/callback")
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "misconfigured"
    settings.WECHAT_TOKEN, settings.WECHAT_APP_ID = "t", ""
    assert client.get("/api/v1/wechat/callback").status_code == 503


# ------------------------------------------------------------------------ messages


def test_a_message_delivered_twice_is_stored_once(wechat, sla_setup):
    message = wechat.message(OPENID, Content="焊缝有气孔")
    first = wechat.post(message)
    again = wechat.post(message)  # the platform's retry after 5 s
    assert first.status_code == again.status_code == 200
    assert wechat.reply(first)["MsgType"] == "text"  # the unbound sender is asked to bind
    assert again.content == b"success"
    assert PlatformMessage.objects.count() == 1
    assert PlatformIdentity.objects.count() == 1
    assert [m.body for m in Message.objects.all()] == ["焊缝有气孔"]


def test_the_same_message_id_of_the_other_platform_is_another_message(wechat, wecom, sla_setup):
    wechat.post(wechat.message(OPENID, Content="one", msg_id=1234567))
    wecom.post(wecom.message("ChenJiaShun", Content="two", msg_id=1234567))
    assert PlatformMessage.objects.count() == 2


@pytest.mark.parametrize(
    "change",
    [
        {"msg_signature": "0" * 40},
        {"msg_signature": ""},
        {"nonce": "other"},  # the signature was over another nonce
    ],
)
def test_a_bad_signature_is_a_403_and_stores_nothing(wechat, change):
    answer = wechat.post(wechat.message(OPENID, Content="x"), query=change)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "bad_signature"
    assert _nothing_stored()


def test_a_tampered_ciphertext_is_refused(wecom):
    plain = wecom.message("ChenJiaShun", Content="x")
    now = str(int(time.time()))
    encrypted = wecom.crypt.encrypt(plain)
    flipped = encrypted[:10] + ("A" if encrypted[10] != "A" else "B") + encrypted[11:]
    body = f"<xml><ToUserName>ww</ToUserName><Encrypt><![CDATA[{flipped}]]></Encrypt></xml>"
    answer = wecom.post(
        plain,
        timestamp=now,
        query={"msg_signature": signature(WECOM_TOKEN, now, "1320562132", encrypted)},
        body=body.encode(),
    )
    assert answer.status_code == 403 and _nothing_stored()


def test_a_replayed_message_outside_the_window_is_refused(wechat):
    old = str(int(time.time()) - REPLAY_WINDOW_SECONDS - 1)
    answer = wechat.post(wechat.message(OPENID, Content="x"), timestamp=old)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "stale"
    assert _nothing_stored()


def test_a_message_for_another_official_account_is_refused(wechat, settings):
    other = FakePlatform("wechat", wechat.client)
    settings.WECHAT_APP_ID = "wx-another-account"
    answer = other.post(other.message(OPENID, Content="x"))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "wrong_receiver"


def test_an_oversized_body_is_a_413_before_it_is_read(wechat):
    answer = wechat.post(b"", body=b"<xml>" + b"x" * 70_000 + b"</xml>")
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<xml><Encrypt>&lol2;</Encrypt></xml>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><Encrypt>&e;</Encrypt></xml>"
)


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml", b"<xml><Encrypt>", b"<notxml/>", BILLION_LAUGHS, XXE, b"\xff\xfe<"],
)
def test_malformed_or_hostile_xml_is_a_400(wechat, body):
    answer = wechat.post(b"", body=body)
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "bad_xml"
    assert _nothing_stored()


def test_an_encrypted_body_that_is_no_message_is_a_400(wechat):
    for plain in (b"no xml at all", b"<xml><MsgType>text</MsgType></xml>"):
        answer = wechat.post(plain)
        assert answer.status_code == 400, answer.content
        assert answer.json()["error"]["code"] == "bad_xml"
    assert _nothing_stored()


def test_a_plain_message_to_an_account_in_safe_mode_is_refused(wechat, settings):
    plain = FakePlatform("wechat", wechat.client)
    plain.crypt = None  # the platform would never: someone else posts in clear
    answer = plain.post(plain.message(OPENID, Content="x"))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "encryption_required"


def test_the_official_account_in_plain_mode_reads_and_answers_in_clear(
    callbacks, client, settings, sla_setup
):
    settings.WECHAT_ENCODING_AES_KEY = ""
    plain = FakePlatform("wechat", client)
    reply = plain.reply(plain.post(plain.message(OPENID, Content="hello there")))
    assert (reply["ToUserName"], reply["FromUserName"]) == (OPENID, "gh_7f083739789a")
    forged = plain.post(plain.message(OPENID, Content="x"), query={"signature": "0" * 40})
    assert forged.status_code == 403


def test_events_are_answered_and_not_stored(wechat):
    event = wechat.message(OPENID, "event", Event="subscribe")
    assert wechat.post(event).content == b"success"
    assert _nothing_stored()


@pytest.mark.parametrize(
    "fields",
    [
        {"MsgType": "text"},  # no sender, no MsgId
        {"MsgType": "text", "FromUserName": OPENID, "MsgId": "12ab"},
        {"MsgType": "text", "FromUserName": "x" * 200, "MsgId": "1"},
        {"MsgType": "text", "FromUserName": "has space", "MsgId": "1"},
    ],
)
def test_a_message_without_its_fields_is_a_400_never_a_500(wechat, fields):
    from intake.wechat.parse import write_fields

    answer = wechat.post(write_fields(fields))
    assert answer.status_code == 400, answer.content
    assert _nothing_stored()


def test_unsupported_methods_are_405(client, callbacks):
    assert client.put("/api/v1/wechat/callback").status_code == 405
    assert client.delete("/api/v1/wecom/callback").status_code == 405


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_message_delivered_twice_at_once_is_stored_once(wechat, sla_setup):
    """Two deliveries in flight together (a slow first answer and the platform's retry): the
    unique MsgId makes the second wait for the first's commit and store nothing."""
    import threading

    from django.db import connection
    from django.test import Client

    message = wechat.message(OPENID, Content="并发的消息")
    barrier, answers = threading.Barrier(2), []

    def deliver():
        try:
            platform = FakePlatform("wechat", Client())
            barrier.wait(timeout=10)
            answers.append(platform.post(message))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [200, 200]
    assert sum(a.content == b"success" for a in answers) == 1  # the duplicate
    assert PlatformMessage.objects.count() == PlatformIdentity.objects.count() == 1
    assert [m.body for m in Message.objects.all()] == ["并发的消息"]


def test_the_system_checks_name_a_callback_that_cannot_work(settings):
    from intake.checks import check_wechat_callbacks, check_wechat_plain_mode

    assert check_wechat_callbacks() == [] and check_wechat_plain_mode() == []
    settings.WECOM_CALLBACK_TOKEN, settings.WECOM_CORP_ID = "t", ""
    settings.WECOM_ENCODING_AES_KEY = "short"
    settings.WECHAT_TOKEN, settings.WECHAT_APP_ID, settings.WECHAT_ENCODING_AES_KEY = "t", "wx", ""
    errors = check_wechat_callbacks()
    assert [e.id for e in errors] == ["welddesk.W032", "welddesk.W032"]
    assert "WECOM_CORP_ID" in errors[0].msg and "WECOM_ENCODING_AES_KEY" in errors[1].msg
    assert [w.id for w in check_wechat_plain_mode()] == ["welddesk.W031"]
