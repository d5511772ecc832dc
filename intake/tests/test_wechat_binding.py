"""Linking a WeChat or WeCom account to a portal account (issue 23, point 2): the customer
makes a one-time code in their profile and sends it from the platform; the sender's
identity is then theirs, audited; a code that is wrong, used or old links nothing; the
customer can unlink it; erasure takes the links and codes with the person."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from accounts.models import PlatformBindCode, PlatformIdentity
from audit.models import AuditEvent
from intake.models import PlatformMessage, PlatformOutcome
from testsupport import sign_in

pytestmark = pytest.mark.django_db

OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
WECOM_USER = "wmLinkUser42"


def make_code(client, customer) -> str:
    """The code the customer's profile shows after pressing "link"."""
    sign_in(client, customer)
    page = client.post("/portal/profile/link/")
    assert page.status_code == 200
    (code,) = re.findall(r"绑定 ([A-Z2-9]{4}-[A-Z2-9]{4})", page.content.decode())
    assert "<svg" in page.content.decode()  # its QR code
    return code


@pytest.mark.parametrize("platform", ["wechat", "wecom"])
def test_sending_the_code_links_the_sender_to_the_account_that_made_it(
    request, platform, make_customer, client, sla_setup, chat_desk
):
    fake = request.getfixturevalue(platform)
    sender = OPENID if platform == "wechat" else WECOM_USER
    customer = make_customer(language="zh-hans")
    code = make_code(client, customer)

    reply = fake.reply(fake.post(fake.message(sender, Content=f"绑定 {code}")))

    identity = PlatformIdentity.objects.get()
    assert identity.user == customer and identity.platform == platform
    assert "已绑定到您的 WeldDesk 账号" in reply["Content"]  # in the customer's language
    assert PlatformMessage.objects.get().outcome == PlatformOutcome.LINKED
    bound = AuditEvent.objects.get(action="platform.identity_bound")
    assert bound.target_id == str(customer.pk) and OPENID not in str(bound.data)
    # From now on their messages are their own: into their chat, not a stand-in's ticket.
    fake.post(fake.message(sender, Content="焊缝有气孔"))
    assert PlatformMessage.objects.latest("pk").outcome == PlatformOutcome.CHAT


@pytest.mark.parametrize("typed", ["{code}", "{bare}", "{lower}", "bind {code}", "绑定：{bare}"])
def test_the_code_is_read_as_people_type_it(typed, make_customer, client, wechat, sla_setup):
    customer = make_customer()
    code = make_code(client, customer)
    text = typed.format(code=code, bare=code.replace("-", ""), lower=code.lower())
    wechat.post(wechat.message(OPENID, Content=text))
    assert PlatformIdentity.objects.get().user == customer


def test_a_used_expired_or_unknown_code_links_nothing(make_customer, client, wechat, sla_setup):
    customer = make_customer()
    code = make_code(client, customer)
    wechat.post(wechat.message(OPENID, Content=code))  # used once
    other = "oOtherPersonWhoSawTheCode000"

    for text in (code, "ZZZZ-ZZZZ"):
        reply = wechat.reply(wechat.post(wechat.message(other, Content=text)))
        assert "15" in reply["Content"]  # make a new one, send it within 15 minutes
    stale = make_code(client, customer)
    PlatformBindCode.objects.filter(used_at__isnull=True).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    wechat.post(wechat.message(other, Content=stale))

    outsider = PlatformIdentity.objects.exclude(user=customer).get()
    assert outsider.user is None
    assert PlatformMessage.objects.filter(outcome=PlatformOutcome.LINK_REFUSED).count() == 3


def test_a_new_code_replaces_the_customers_earlier_one(make_customer, client, wechat, sla_setup):
    customer = make_customer()
    first = make_code(client, customer)
    second = make_code(client, customer)
    wechat.post(wechat.message(OPENID, Content=first))
    assert PlatformIdentity.objects.get().user is None
    wechat.post(wechat.message(OPENID, Content=second))
    assert PlatformIdentity.objects.get().user == customer


def test_guessing_stops_after_ten_wrong_codes_an_hour(make_customer, client, wechat, sla_setup):
    customer = make_customer()
    for n in range(10):
        wechat.post(wechat.message(OPENID, Content=f"AAAA-AA{n:02d}".replace("0", "A")))
    code = make_code(client, customer)
    wechat.post(wechat.message(OPENID, Content=code))  # right, but the sender used its tries
    assert PlatformIdentity.objects.get().user is None


def test_only_the_code_hash_is_stored(make_customer, client, wechat, sla_setup):
    customer = make_customer()
    code = make_code(client, customer)
    row = PlatformBindCode.objects.get()
    assert code.replace("-", "") not in row.code_hash and len(row.code_hash) == 64


def test_the_profile_lists_the_links_and_unlinks_one_audited(
    make_customer, client, wechat, sla_setup
):
    customer = make_customer()
    code = make_code(client, customer)
    wechat.post(wechat.message(OPENID, Content=code))
    identity = PlatformIdentity.objects.get()

    page = client.get("/portal/profile/").content.decode()
    assert "WeChat" in page and OPENID not in page  # the id is never shown
    response = client.post(f"/portal/profile/link/{identity.pk}/unlink/")
    assert response.status_code == 302
    identity.refresh_from_db()
    assert identity.user is None
    assert AuditEvent.objects.filter(action="platform.identity_unbound").count() == 1


def test_another_customers_link_cannot_be_unlinked(make_customer, client, wechat, sla_setup):
    owner, other = make_customer(), make_customer()
    code = make_code(client, owner)
    wechat.post(wechat.message(OPENID, Content=code))
    identity = PlatformIdentity.objects.get()
    sign_in(client, other)

    assert client.post(f"/portal/profile/link/{identity.pk}/unlink/").status_code == 404
    assert client.post("/portal/profile/link/abc/unlink/").status_code == 404
    assert client.get("/portal/profile/link/").status_code == 405
    identity.refresh_from_db()
    assert identity.user == owner


def test_staff_cannot_make_a_code(make_staff, client):
    sign_in(client, make_staff())
    assert client.post("/portal/profile/link/").status_code in (302, 403)
    assert not PlatformBindCode.objects.exists()


def test_erasure_takes_the_links_and_codes_with_the_person(
    make_customer, client, wechat, sla_setup, make_staff
):
    from accounts.services.platforms import platform_identities_erase

    customer = make_customer()
    code = make_code(client, customer)
    wechat.post(wechat.message(OPENID, Content=code))
    make_code(client, customer)  # a live one too

    platform_identities_erase(user=customer)
    assert not PlatformIdentity.objects.filter(user=customer).exists()
    assert not PlatformBindCode.objects.exists()
