"""Where a WeChat or WeCom message goes, and how the desk's answer comes back: an unbound
sender is kept under an unidentified contact and asked to bind; a bound customer's message
lands in their live chat, or in a ticket when no agent can take it; text, photos and voice;
an agent's answer goes out by the platform's send API with the shared token."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from accounts.models import PlatformIdentity, User
from audit.models import AuditEvent
from chat import services as chat_services
from chat.models import ChatMessage, Conversation
from intake.models import PlatformMessage, PlatformOutcome
from intake.wechat.services import UNKNOWN_SENDERS
from notifications.models import Outbox
from tickets.models import Channel, Ticket
from tickets.services.tickets import ticket_reply

pytestmark = pytest.mark.django_db

OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"


# ------------------------------------------------------------------------ unbound senders


def test_an_unbound_sender_is_kept_as_an_unidentified_contact_and_asked_to_bind(
    wechat, sla_setup, settings
):
    reply = wechat.reply(wechat.post(wechat.message(OPENID, Content="激光器报警 E101")))
    row = PlatformMessage.objects.get()
    identity = PlatformIdentity.objects.get()
    contact = identity.contact
    ticket = Ticket.objects.get()
    assert row.outcome == PlatformOutcome.UNBOUND and row.identity == identity
    assert identity.user is None and identity.external_id == OPENID
    assert not contact.is_active and contact.organisation.name == UNKNOWN_SENDERS
    assert (ticket.requester, ticket.channel) == (contact, Channel.WECOM)
    assert ticket.messages.get().body == "激光器报警 E101"  # the message is kept
    assert (reply["ToUserName"], reply["MsgType"]) == (OPENID, "text")
    assert ticket.reference in reply["Content"]
    assert f"{settings.SITE_URL}/portal/profile/" in reply["Content"]


def test_an_unbound_senders_next_messages_join_their_ticket_and_are_not_asked_again(
    wechat, sla_setup
):
    wechat.post(wechat.message(OPENID, Content="first"))
    second = wechat.post(wechat.message(OPENID, Content="second"))
    assert second.content == b"success"  # asked to bind once an hour at most
    ticket = Ticket.objects.get()
    assert [m.body for m in ticket.messages.order_by("pk")] == ["first", "second"]
    assert User.objects.filter(organisation__name=UNKNOWN_SENDERS).count() == 1
    cache.clear()  # an hour later
    assert wechat.reply(wechat.post(wechat.message(OPENID, Content="third")))["Content"]


def test_the_bind_request_is_in_the_language_the_sender_wrote_in(wechat, sla_setup):
    from django.utils import translation

    from intake.wechat import services

    english = wechat.reply(wechat.post(wechat.message("o-en", Content="my welder is broken")))
    chinese = wechat.reply(wechat.post(wechat.message("o-zh", Content="焊机坏了")))
    ticket_en, ticket_zh = Ticket.objects.order_by("pk")
    with translation.override("en"):
        assert english["Content"] == services._bind_reply("wechat", ticket_en)
    with translation.override("zh-hans"):
        assert chinese["Content"] == services._bind_reply("wechat", ticket_zh)


def test_no_id_or_text_reaches_the_audit_chain(wechat, sla_setup):
    wechat.post(wechat.message(OPENID, Content="私人信息 13800138000"))
    events = AuditEvent.objects.filter(action__startswith="platform.")
    assert {e.action for e in events} == {"platform.identity_created", "platform.message_received"}
    for event in events:
        assert OPENID not in str(event.data) and "13800138000" not in str(event.data)


# ------------------------------------------------------------------------ bound customers


def test_a_bound_customers_message_opens_a_chat_when_an_agent_is_online(wechat, bound, chat_desk):
    customer = bound("wechat", OPENID)
    first = wechat.reply(wechat.post(wechat.message(OPENID, Content="您好，焊机报警")))
    second = wechat.post(wechat.message(OPENID, Content="报警代码 E101"))
    conversation = Conversation.objects.get()
    assert (conversation.customer, conversation.platform) == (customer, "wechat")
    assert conversation.agent == chat_desk[1]  # routed to the online agent at once
    messages = list(conversation.messages.order_by("seq"))
    assert [(m.body, m.from_customer, m.sender) for m in messages] == [
        ("您好，焊机报警", True, customer),
        ("报警代码 E101", True, customer),
    ]
    assert first["Content"] and second.content == b"success"
    assert set(PlatformMessage.objects.values_list("outcome", flat=True)) == {"chat"}
    assert not Ticket.objects.exists()


def test_a_bound_customers_message_joins_their_open_chat(wechat, bound, chat_desk):
    customer = bound("wechat", OPENID)
    conversation = chat_services.conversation_open(customer=customer)  # from the portal
    answer = wechat.post(wechat.message(OPENID, Content="我在微信上"))
    assert answer.content == b"success"
    conversation.refresh_from_db()
    assert conversation.platform == "wechat"  # answers go there too from now on
    assert conversation.messages.get().body == "我在微信上"


def test_with_no_agent_free_a_bound_customers_message_goes_into_a_ticket(wechat, bound, sla_setup):
    customer = bound("wechat", OPENID)
    reply = wechat.reply(wechat.post(wechat.message(OPENID, Content="夜里焊机停了")))
    wechat.post(wechat.message(OPENID, Content="还是不行"))
    ticket = Ticket.objects.get()
    assert (ticket.requester, ticket.channel) == (customer, Channel.WECOM)
    assert [m.body for m in ticket.messages.order_by("pk")] == ["夜里焊机停了", "还是不行"]
    assert ticket.reference in reply["Content"]
    assert not Conversation.objects.exists()


def test_a_staff_account_bound_to_wechat_is_refused_quietly(wechat, sla_setup, make_staff):
    from accounts.models import PlatformIdentity as Identity

    agent = make_staff()
    wechat.post(wechat.message(OPENID, Content="x"))
    Identity.objects.update(user=agent)  # not possible through the binding service
    answer = wechat.post(wechat.message(OPENID, Content="y"))
    assert answer.content == b"success"
    assert PlatformMessage.objects.order_by("pk").last().outcome == PlatformOutcome.REJECTED


# ------------------------------------------------------------------------ kinds of message


def test_a_photo_keeps_its_link_and_media_id_encrypted(wechat, bound, chat_desk):
    bound("wechat", OPENID)
    url = "https://mmbiz.qpic.cn/mmbiz_jpg/abc/0"
    wechat.post(wechat.message(OPENID, "image", PicUrl=url, MediaId="media-123"))
    row = PlatformMessage.objects.get()
    assert (row.msg_type, row.pic_url, row.media_id) == ("image", url, "media-123")
    assert url in ChatMessage.objects.get().body
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT media_id, pic_url FROM intake_platformmessage")
        stored = cursor.fetchone()
    assert "media-123" not in stored[0] and url not in stored[1]


def test_a_voice_message_is_read_by_its_transcript(wechat, bound, chat_desk):
    bound("wechat", OPENID)
    wechat.post(wechat.message(OPENID, "voice", MediaId="v1", Format="amr", Recognition="焊机报警"))
    wechat.post(wechat.message(OPENID, "voice", MediaId="v2", Format="amr"))
    with_text, without = ChatMessage.objects.order_by("seq")
    assert "焊机报警" in with_text.body
    assert "transcript" in without.body
    assert PlatformMessage.objects.order_by("pk").last().media_id == "v2"


def test_another_kind_of_message_is_recorded_and_answered_what_the_desk_reads(
    wechat, bound, chat_desk
):
    bound("wechat", OPENID)
    reply = wechat.reply(wechat.post(wechat.message(OPENID, "video", MediaId="m")))
    assert reply["Content"]
    assert PlatformMessage.objects.get().outcome == PlatformOutcome.UNSUPPORTED
    assert not ChatMessage.objects.exists() and not Ticket.objects.exists()


# ------------------------------------------------------------------------ answers go back


@pytest.mark.django_db(transaction=True)
def test_an_agents_chat_answer_goes_to_wechat_with_the_shared_token(
    wechat, bound, chat_desk, platform_api
):
    bound("wechat", OPENID)
    wechat.post(wechat.message(OPENID, Content="焊机报警"))
    conversation = Conversation.objects.get()
    agent = chat_desk[1]
    for n, text in enumerate(("请检查保护气", "然后重启")):
        chat_services.message_post(
            conversation=conversation, sender=agent, body=text, client_id=f"c-{n}"
        )
    assert [(m["touser"], m["text"]["content"]) for m in platform_api.sent] == [
        (OPENID, "请检查保护气"),
        (OPENID, "然后重启"),
    ]
    assert platform_api.tokens["wechat"] == ["wechat-token-1"]  # one token for both
    assert cache.get("shared-token:wechat:wxdesk0000000001") == "wechat-token-1"
    assert set(Outbox.objects.values_list("channel", "status")) == {("wechat", "sent")}


@pytest.mark.django_db(transaction=True)
def test_the_customers_own_messages_and_the_portals_chats_are_not_sent(
    wechat, bound, chat_desk, platform_api, make_customer
):
    bound("wechat", OPENID)
    wechat.post(wechat.message(OPENID, Content="x"))
    web = chat_services.conversation_open(customer=make_customer())
    chat_services.message_post(conversation=web, sender=chat_desk[1], body="hi", client_id="w1")
    assert platform_api.sent == [] and not Outbox.objects.filter(channel="wechat").exists()


@pytest.mark.django_db(transaction=True)
def test_an_agents_ticket_reply_reaches_an_unbound_sender_on_wechat(
    wechat, sla_setup, make_staff, platform_api
):
    wechat.post(wechat.message(OPENID, Content="谁能帮我"))
    ticket = Ticket.objects.get()
    agent = make_staff()
    ticket_reply(ticket=ticket, author=agent, body="您好，请问机器序列号？")
    (sent,) = platform_api.sent
    assert sent["touser"] == OPENID
    assert sent["text"]["content"] == f"[{ticket.reference}] 您好，请问机器序列号？"
    ticket_reply(ticket=ticket, author=agent, body="内部备注", internal=True)
    assert len(platform_api.sent) == 1  # an internal note stays inside


@pytest.mark.django_db(transaction=True)
def test_wecom_messages_land_in_chat_and_answers_go_by_the_application(
    wecom, bound, chat_desk, platform_api
):
    customer = bound("wecom", "ChenJiaShun")
    reply = wecom.reply(wecom.post(wecom.message("ChenJiaShun", Content="你好")))
    assert reply["ToUserName"] == "ChenJiaShun" and reply["Content"]
    conversation = Conversation.objects.get(customer=customer)
    assert conversation.platform == "wecom"
    chat_services.message_post(
        conversation=conversation, sender=chat_desk[1], body="您好", client_id="a1"
    )
    (sent,) = platform_api.sent
    assert (sent["platform"], sent["touser"], sent["agentid"]) == ("wecom", "ChenJiaShun", 1000002)
    assert sent["text"]["content"] == "您好"


# ------------------------------------------------------------------------ erasure


def test_erasure_deletes_the_identity_and_the_media_references(
    wechat, bound, chat_desk, make_staff
):
    from compliance.services import _erase

    customer = bound("wechat", OPENID)
    wechat.post(wechat.message(OPENID, "image", PicUrl="https://mmbiz.qpic.cn/x", MediaId="m1"))
    summary = _erase(customer, actor=make_staff(roles=("compliance_officer",)))
    assert summary["account"]["platform_identities"] == 1
    assert summary["platform_messages"] == 1
    assert not PlatformIdentity.objects.exists()
    row = PlatformMessage.objects.get()
    assert (row.media_id, row.pic_url, row.identity) == ("", "", None)


def test_retention_deletes_the_message_records_not_what_they_became(wechat, sla_setup):
    import datetime as dt

    from django.utils import timezone

    from compliance.retention import retention_run

    wechat.post(wechat.message(OPENID, Content="x"))
    later = timezone.now() + dt.timedelta(days=91)
    assert retention_run(dry_run=True, now=later)["platform_messages"] == {"platform_messages": 1}
    assert PlatformMessage.objects.exists()
    retention_run(now=later)
    assert not PlatformMessage.objects.exists() and Ticket.objects.count() == 1


# ------------------------------------------------------------------------ photos copied in

PHOTO_URL = "https://mmbiz.qpic.cn/mmbiz_png/abc/0"


@pytest.mark.django_db(transaction=True)
def test_a_photo_in_a_chat_is_copied_in_through_the_upload_checks(
    wechat, bound, chat_desk, platform_api
):
    from chat.tests.conftest import PNG

    platform_api.media["media-1"] = (PNG, "image/png")
    bound("wechat", OPENID)
    wechat.post(wechat.message(OPENID, "image", PicUrl=PHOTO_URL, MediaId="media-1"))
    message = ChatMessage.objects.get()
    (photo,) = message.attachments.all()
    assert (photo.content_type, photo.is_image, photo.uploaded_by) == (
        "image/png",
        True,
        message.sender,
    )
    assert photo.file.read() == PNG
    assert PlatformMessage.objects.get().media_copied


@pytest.mark.django_db(transaction=True)
def test_an_unbound_senders_photo_is_kept_on_their_ticket_as_theirs(
    wechat, sla_setup, platform_api
):
    from chat.tests.conftest import PNG

    platform_api.media["media-2"] = (PNG, "image/png")
    wechat.post(wechat.message(OPENID, "image", PicUrl=PHOTO_URL, MediaId="media-2"))
    ticket = Ticket.objects.get()
    (photo,) = ticket.attachments.all()
    assert photo.message == ticket.messages.get()
    assert photo.uploaded_by == PlatformIdentity.objects.get().contact  # erased with them


@pytest.mark.django_db(transaction=True)
def test_a_photo_the_platform_no_longer_has_or_that_is_no_photo_stays_a_link(
    wechat, bound, chat_desk, platform_api
):
    from intake.wechat.services import platform_media_fetch

    bound("wechat", OPENID)
    wechat.post(wechat.message(OPENID, "image", PicUrl=PHOTO_URL, MediaId="gone"))
    row = PlatformMessage.objects.get()
    assert not row.media_copied  # the platform refused: tried once, the link stays
    assert PHOTO_URL in ChatMessage.objects.get().body
    platform_api.media["gone"] = (b"<html><script>x</script></html>", "image/jpeg")
    assert platform_media_fetch(row_id=row.pk) == "refused"  # the upload checks read it
    assert platform_media_fetch(row_id=row.pk) == "nothing"  # done: never twice
    assert not ChatMessage.objects.get().attachments.exists()
