"""The raw-MIME endpoint: token, size limit, bad bytes answer 4xx (never 500), and a mail
posted twice is one reply."""

from __future__ import annotations

import pytest
from django.urls import reverse

from intake.models import InboundMail
from tickets.models import Ticket

from .test_mail_ingest import eml

pytestmark = pytest.mark.django_db

TOKEN = "mail-token-for-tests-0123456789abcdef"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.MAIL_INGEST_TOKEN = TOKEN


def post(client, body: bytes, *, token=TOKEN, query=""):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.generic(
        "POST", reverse("mail-inbound") + query, body, content_type="message/rfc822", **headers
    )


def test_a_mail_posted_by_the_relay_opens_a_ticket_once(client, make_customer, queue_setup):
    make_customer(email="li.wei@example-works.cn")
    queue = queue_setup[0]
    first = post(client, eml("new_request_gbk.eml"), query=f"?queue={queue.slug}")
    again = post(client, eml("new_request_gbk.eml"))
    assert first.status_code == 200 and first.json()["outcome"] == "opened"
    assert again.json() == {**first.json(), "duplicate": True}
    assert Ticket.objects.get().queue == queue


def test_without_the_token_nothing_is_read(client, settings):
    assert post(client, eml("new_request_gbk.eml"), token=None).status_code == 401
    assert post(client, eml("new_request_gbk.eml"), token="wrong").status_code == 401
    settings.MAIL_INGEST_TOKEN = ""  # turned off
    assert post(client, eml("new_request_gbk.eml"), token="").status_code == 401
    assert not InboundMail.objects.exists()


def test_a_mail_over_the_limit_is_413(client, settings):
    settings.MAIL_MAX_BYTES = 1000
    response = post(client, eml("foxmail_reply_gbk.eml"))
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Subject: no sender\r\n\r\nhello",
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
        b"Content-Type: text/plain; charset=no-such-charset\r\nContent-Transfer-Encoding: "
        b"base64\r\n\r\n!!!not base64\r\n--x",  # unclosed, bad charset, bad base64
        b"From: =?utf-8?B?broken?= <a@b.example>\r\nSubject: =?x-unknown?Q?=ZZ?=\r\n\r\nhi",
    ],
)
def test_bad_bytes_are_a_400_or_a_ticket_never_a_500(client, body, make_customer):
    make_customer(email="a@b.example")
    response = post(client, body)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "bad_mail"


def test_an_unknown_queue_is_a_400(client):
    response = post(client, eml("new_request_gbk.eml"), query="?queue=nope")
    assert response.status_code == 400
