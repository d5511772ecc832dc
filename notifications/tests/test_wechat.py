"""Answers on WeChat and WeCom: the official account's client against a fake API on loopback
(token shared by every process, refreshed once), and `answer_on_platform`, which decides
whether and where a desk answer goes."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.services.platforms import platform_identity_bind, platform_identity_seen
from notifications.messages import PLATFORM_TEXT_BYTES, answer_on_platform
from notifications.models import Outbox, Status
from notifications.selectors import person_addresses
from notifications.services import notifications_erase_person, outbox_deliver
from notifications.tests.conftest import WECHAT_APP_ID, WECOM_CORP_ID
from notifications.wechat import HttpWeChatBackend, WeChatError

OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


def test_answers_go_out_with_one_cached_token(platform_api):
    backend = HttpWeChatBackend()
    backend.send(to=OPENID, body="您好，焊机已恢复", key="k1")
    backend.send(to="o-other", body="Fixed", key="k2")
    assert platform_api.tokens["wechat"] == ["wechat-token-1"]
    assert [(m["touser"], m["msgtype"], m["text"]["content"]) for m in platform_api.sent] == [
        (OPENID, "text", "您好，焊机已恢复"),
        ("o-other", "text", "Fixed"),
    ]


def test_an_expired_token_is_fetched_again_once_for_everyone(platform_api):
    HttpWeChatBackend().send(to=OPENID, body="one", key="k1")
    platform_api.expire_next = True
    HttpWeChatBackend().send(to=OPENID, body="two", key="k2")
    HttpWeChatBackend().send(to=OPENID, body="three", key="k3")
    assert platform_api.tokens["wechat"] == ["wechat-token-1", "wechat-token-2"]
    assert [m["text"]["content"] for m in platform_api.sent] == ["one", "two", "three"]
    assert cache.get(f"shared-token:wechat:{WECHAT_APP_ID}") == "wechat-token-2"


def test_every_process_sends_with_the_one_shared_token(platform_api):
    errors = []

    def send(n):
        try:
            HttpWeChatBackend().send(to=OPENID, body=f"m{n}", key=f"k{n}")
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == [] and len(platform_api.sent) == 6
    assert platform_api.tokens["wechat"] == ["wechat-token-1"]


def test_a_refusal_raises_and_so_does_a_wrong_secret(platform_api, settings):
    platform_api.refuse_with = 45015  # the follower wrote more than 48 hours ago
    with pytest.raises(WeChatError, match="45015"):
        HttpWeChatBackend().send(to=OPENID, body="x", key="k")
    cache.clear()
    settings.WECHAT_APP_SECRET = "wrong"
    with pytest.raises(WeChatError, match="token refused"):
        HttpWeChatBackend().send(to=OPENID, body="x", key="k")
    settings.WECHAT_APP_SECRET = ""
    with pytest.raises(WeChatError, match="must be set"):
        HttpWeChatBackend().send(to=OPENID, body="x", key="k")


# ------------------------------------------------------------------ answer_on_platform


@pytest.fixture
def follower(make_customer, platform_api):
    """A customer who wrote to the official account a minute ago and bound it."""
    customer = make_customer(language="zh-hans")
    identity = platform_identity_seen(
        platform="wechat",
        app_id=WECHAT_APP_ID,
        external_id=OPENID,
        now=timezone.now() - dt.timedelta(minutes=1),
    )
    platform_identity_bind(identity=identity, user=customer, actor=customer)
    return customer, identity


@pytest.mark.django_db(transaction=True)
def test_an_answer_goes_to_the_follower_through_the_outbox(follower, platform_api):
    customer, _identity = follower
    (row_id,) = answer_on_platform(to=customer, text="请检查保护气流量。", key="chat-answer:1")
    row = Outbox.objects.get(pk=row_id)
    assert (row.channel, row.recipient, row.key) == ("wechat", OPENID, "chat-answer:1:wechat")
    assert row.status == Status.SENT  # handed over after commit; eager Celery sent it
    assert platform_api.sent[-1]["touser"] == OPENID
    assert platform_api.sent[-1]["text"]["content"] == "请检查保护气流量。"
    assert answer_on_platform(to=customer, text="again", key="chat-answer:1") == []


@pytest.mark.django_db
def test_no_answer_after_the_48_hour_window_or_for_another_account(follower, settings):
    customer, _identity = follower
    later = timezone.now() + dt.timedelta(hours=48)
    assert answer_on_platform(to=customer, text="x", key="k1", now=later) == []
    settings.WECHAT_APP_ID = "wx-another-account"
    assert answer_on_platform(to=customer, text="x", key="k2") == []
    assert not Outbox.objects.exists()


@pytest.mark.django_db
def test_nothing_for_a_person_without_an_identity_or_with_a_deactivated_account(
    follower, make_customer
):
    customer, _identity = follower
    assert answer_on_platform(to=make_customer(), text="x", key="k1") == []
    customer.is_active = False
    assert answer_on_platform(to=customer, text="x", key="k2") == []


@pytest.mark.django_db
def test_a_long_answer_is_shortened_to_what_the_platform_takes(follower):
    customer, _identity = follower
    (row_id,) = answer_on_platform(to=customer, text="焊" * 1000, key="k")
    body = Outbox.objects.get(pk=row_id).body
    assert len(body.encode()) <= PLATFORM_TEXT_BYTES and body.endswith("…")


@pytest.mark.django_db(transaction=True)
def test_a_wecom_user_is_answered_by_the_application(make_customer, platform_api):
    customer = make_customer()
    identity = platform_identity_seen(
        platform="wecom", app_id=WECOM_CORP_ID, external_id="ChenJiaShun", now=timezone.now()
    )
    platform_identity_bind(identity=identity, user=customer, actor=customer)
    answer_on_platform(to=customer, text="已安排工程师", key="ticket-answer:9")
    assert platform_api.sent[-1]["platform"] == "wecom"
    assert platform_api.sent[-1]["touser"] == "ChenJiaShun"
    assert platform_api.sent[-1]["text"]["content"] == "已安排工程师"


@pytest.mark.django_db
def test_the_person_last_written_from_is_answered_unless_one_platform_is_named(follower, settings):
    customer, _wechat = follower
    settings.WECOM_CORP_ID = WECOM_CORP_ID
    wecom = platform_identity_seen(
        platform="wecom", app_id=WECOM_CORP_ID, external_id="ChenJiaShun", now=timezone.now()
    )
    platform_identity_bind(identity=wecom, user=customer, actor=customer)
    answer_on_platform(to=customer, text="x", key="k1")
    answer_on_platform(to=customer, text="x", key="k2", platform="wechat")
    rows = Outbox.objects.order_by("pk").values_list("channel", "recipient")
    assert list(rows) == [("wecom", "ChenJiaShun"), ("wechat", OPENID)]


@pytest.mark.django_db
def test_erasure_removes_the_answers_sent_to_the_persons_platform_ids(follower, make_customer):
    customer, _identity = follower
    answer_on_platform(to=customer, text="x", key="k1")
    assert ("wechat", OPENID.lower()) in person_addresses(customer)
    counts = notifications_erase_person(user=customer, marks=_NoMarks(), actor=None)
    assert counts["outbox"] == 1 and not Outbox.objects.exists()


class _NoMarks:
    def found_in(self, text):
        return False


@pytest.mark.django_db(transaction=True)
def test_a_refused_answer_stays_pending_for_a_retry(follower, platform_api):
    customer, _identity = follower
    platform_api.refuse_with = 45047  # too many messages
    (row_id,) = answer_on_platform(to=customer, text="x", key="k1")
    row = Outbox.objects.get(pk=row_id)
    assert (row.status, row.last_error) == (Status.PENDING, "WeChatError")
    platform_api.refuse_with = 0
    assert outbox_deliver(outbox_id=row_id) == "sent"
