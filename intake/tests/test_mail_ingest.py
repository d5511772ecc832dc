"""Inbound e-mail: a real-world corpus read right, threading by headers and reference, only
the ticket's own organisation may answer, machines get ignored, a mail is added once."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from intake.mail.parse import parse
from intake.mail.services import UNKNOWN_SENDERS, mail_ingest
from intake.models import InboundMail, MailOutcome
from notifications.models import Outbox
from tickets.models import Channel, Ticket
from tickets.search import search_tickets

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "mail"
# The Message-ID of the desk's mail that the corpus' replies answer.
SENT = "<20261207003000.4242.0123456789abcdef@welddesk.example>"


def eml(name: str) -> bytes:
    return (DATA / name).read_bytes()


def ingest(name_or_raw, **kwargs):
    raw = eml(name_or_raw) if isinstance(name_or_raw, str) else name_or_raw
    return mail_ingest(raw=raw, source=kwargs.pop("source", "test"), **kwargs)


@pytest.fixture
def li_wei(make_customer):
    return make_customer(email="li.wei@example-works.cn", full_name="李伟", language="zh-hans")


@pytest.fixture
def sent_ticket(open_ticket, li_wei):
    """A ticket of Li Wei's, whose opening e-mail is the one the corpus' replies answer."""
    ticket = open_ticket(li_wei)
    assert Outbox.objects.filter(about_id=str(ticket.pk), channel="email").update(message_id=SENT)
    return ticket


@pytest.mark.parametrize(
    ("name", "sender", "subject", "kept", "cut"),
    [
        ("outlook_reply.eml", "li.wei@example-works.cn", "RE: [WD-2026-000001]", "31 °C", "Sent:"),
        ("foxmail_reply_gbk.eml", "li.wei@example-works.cn", "回复：", "报警截图", "Original"),
        ("qqmail_reply_html.eml", "12345678@qq.com", "回复：", "设备已经恢复了", "原始邮件"),
        ("gmail_reply.eml", "zhang.min@example-works.cn", "Re: ", "welds again", "wrote"),
        ("applemail_reply_big5.eml", "chan.taiman@example-hk.com", "回覆", "工程師", "iPhone"),
        ("new_request_gbk.eml", "li.wei@example-works.cn", "激光焊机报警 E101", "镕", "设备部"),
        ("html_only.eml", "zhang.min@example-works.cn", "Wire feeder", "- Wire: 1.0 mm", "steal"),
        ("forwarded.eml", "zhang.min@example-works.cn", "Fwd:", "alarm A07", "\x00"),
    ],
)
def test_the_corpus_is_read_in_its_charsets_and_replies_are_trimmed(
    name, sender, subject, kept, cut
):
    mail = parse(eml(name))
    assert mail.sender == sender
    assert subject in mail.subject
    assert kept in mail.body
    assert cut not in mail.body
    assert "<div" not in mail.body and "<script" not in mail.body  # no markup survives
    assert not mail.machine_made


def test_machine_mail_is_recognised():
    bounce, ooo = parse(eml("bounce.eml")), parse(eml("auto_reply.eml"))
    assert bounce.bounce and bounce.machine_made
    assert ooo.auto_submitted and not ooo.bounce
    assert parse(eml("forwarded.eml")).forwarded  # kept whole, not trimmed as a reply


def test_a_customers_new_mail_opens_a_ticket_found_by_search_with_the_original_kept(li_wei):
    done = ingest("new_request_gbk.eml")
    ticket = Ticket.objects.get(pk=done.ticket_id)
    assert done.outcome == MailOutcome.OPENED
    assert (ticket.requester, ticket.channel) == (li_wei, Channel.EMAIL)
    assert ticket.subject == "激光焊机报警 E101，焊接停止 — 镕"
    body = ticket.messages.get().body
    assert "请尽快安排工程师" in body and "设备部" not in body  # signature cut
    assert [a.original_name for a in ticket.attachments.all()] == ["original.eml"]
    assert list(search_tickets(Ticket.objects.all(), "E101")) == [ticket]
    audit = AuditEvent.objects.get(action="mail.received")
    assert audit.data["outcome"] == "opened" and "li.wei" not in str(audit.data)


def test_replies_in_outlook_and_foxmail_thread_by_the_desks_message_id(sent_ticket, li_wei):
    outlook = ingest("outlook_reply.eml")
    foxmail = ingest("foxmail_reply_gbk.eml")
    assert (outlook.outcome, outlook.ticket_id) == (MailOutcome.REPLIED, sent_ticket.pk)
    assert (foxmail.outcome, foxmail.ticket_id) == (MailOutcome.REPLIED, sent_ticket.pk)
    bodies = list(sent_ticket.messages.values_list("body", flat=True))
    assert bodies[-2].startswith("Hello,\n\nThe laser stopped again")
    assert "Your request" not in bodies[-2]  # the quoted mail is cut
    names = sorted(sent_ticket.attachments.values_list("original_name", flat=True))
    assert names == ["original.eml", "original.eml", "报警.png"]
    assert Ticket.objects.count() == 1


def test_a_reply_threads_by_a_received_message_id_and_by_the_subject_reference(li_wei):
    first = ingest("new_request_gbk.eml")
    ticket = Ticket.objects.get(pk=first.ticket_id)
    reply = (
        b"From: li.wei@example-works.cn\r\nSubject: more\r\nMessage-ID: <r1@example-works.cn>\r\n"
        b"In-Reply-To: <new-request-0001@example-works.cn>\r\n\r\nIt happened again.\r\n"
    )
    by_subject = (
        b"From: li.wei@example-works.cn\r\nSubject: About " + ticket.reference.encode() + b"\r\n"
        b"Message-ID: <r2@example-works.cn>\r\n\r\nAnd once more.\r\n"
    )
    assert ingest(reply).ticket_id == ticket.pk
    assert ingest(by_subject).ticket_id == ticket.pk
    assert ticket.messages.count() == 3


def test_a_stranger_who_knows_the_thread_gets_a_ticket_of_their_own(sent_ticket):
    done = ingest("qqmail_reply_html.eml")  # an unknown QQ address answering Li Wei's mail
    assert done.outcome == MailOutcome.STRANGER and done.ticket_id != sent_ticket.pk
    assert sent_ticket.messages.count() == 1  # nothing added to Li Wei's ticket
    theirs = Ticket.objects.get(pk=done.ticket_id)
    assert theirs.organisation.name == UNKNOWN_SENDERS
    assert not theirs.requester.is_active  # cannot sign in to see the unidentified tickets
    assert AuditEvent.objects.filter(action="mail.outsider_reply", target_id=sent_ticket.pk)
    flag = f"ticket-flagged:{sent_ticket.pk}:outsider-mail:{theirs.pk}"
    notice = Outbox.objects.get(key=f"{flag}:email")
    assert notice.recipient == sent_ticket.assignee.email and theirs.reference in notice.body
    assert "qq.com" not in notice.body
    # Another stranger in the same unidentified organisation cannot answer that ticket.
    other = (
        b"From: other@stranger.example\r\nSubject: Re: " + theirs.reference.encode() + b"\r\n"
        b"Message-ID: <s2@stranger.example>\r\n\r\nLet me in.\r\n"
    )
    assert ingest(other).outcome == MailOutcome.STRANGER
    assert theirs.messages.count() == 1
    # Its own requester can.
    own = (
        b"From: 12345678@qq.com\r\nSubject: Re: " + theirs.reference.encode() + b"\r\n"
        b"Message-ID: <s3@qq.com>\r\n\r\nPhoto attached later.\r\n"
    )
    assert ingest(own).outcome == MailOutcome.REPLIED


def reply_to(ticket, *authentication_results: str) -> bytes:
    mid = uuid.uuid4().hex
    headers = "".join(f"Authentication-Results: {h}\r\n" for h in authentication_results)
    return (
        f"{headers}From: li.wei@example-works.cn\r\nSubject: Re: {ticket.reference}\r\n"
        f"Message-ID: <auth-{mid}@example-works.cn>\r\n\r\nStill broken.\r\n"
    ).encode()


def test_with_a_trusted_mail_server_only_a_verified_sender_answers_a_ticket(sent_ticket, settings):
    """A From address is anyone's to write: with MAIL_AUTHSERV_ID set, only the desk's own
    server's verdict counts, and a forged or failed one opens a ticket of its own."""
    settings.MAIL_AUTHSERV_ID = "mx.welddesk.example"
    forged = reply_to(sent_ticket, "mail.attacker.example; dmarc=pass header.from=example-works.cn")
    unsigned = reply_to(sent_ticket)
    failed = reply_to(
        sent_ticket,
        "mx.welddesk.example; dkim=pass header.d=example-works.cn; dmarc=fail",
    )
    other_domain = reply_to(sent_ticket, "mx.welddesk.example; dkim=pass header.d=evil.example")
    for raw in (forged, unsigned, failed, other_domain):
        assert ingest(raw).outcome == MailOutcome.STRANGER
    assert sent_ticket.messages.count() == 1
    assert (
        AuditEvent.objects.filter(action="mail.outsider_reply", target_id=sent_ticket.pk).count()
        == 4
    )
    for verdict in (
        "mx.welddesk.example; dmarc=pass (p=reject) header.from=example-works.cn",
        "MX.welddesk.example 1; spf=pass smtp.mailfrom=bounce.example-works.cn",
        "mx.welddesk.example; dkim=pass header.d=example-works.cn header.s=s1",
    ):
        assert ingest(reply_to(sent_ticket, verdict)).outcome == MailOutcome.REPLIED
    assert sent_ticket.messages.count() == 4


def test_check_deploy_warns_when_mail_comes_in_with_no_server_vouching_for_senders(settings):
    from intake.checks import check_mail_sender_authentication

    settings.MAIL_INGEST_TOKEN, settings.MAIL_AUTHSERV_ID = "", ""
    assert check_mail_sender_authentication() == []
    settings.MAIL_INGEST_TOKEN = "t" * 40
    assert [w.id for w in check_mail_sender_authentication()] == ["welddesk.W012"]
    settings.MAIL_AUTHSERV_ID = "mx.welddesk.example"
    assert check_mail_sender_authentication() == []


def test_unknown_senders_are_rejected_when_the_setting_says_so(settings):
    settings.MAIL_UNKNOWN_SENDERS = "reject"
    done = ingest("qqmail_reply_html.eml")
    assert (done.outcome, done.ticket_id) == (MailOutcome.REJECTED, None)
    assert not Ticket.objects.exists()


def test_bounces_and_automatic_answers_open_nothing(sent_ticket):
    assert ingest("bounce.eml").outcome == MailOutcome.IGNORED
    assert ingest("auto_reply.eml").outcome == MailOutcome.IGNORED
    assert Ticket.objects.count() == 1 and sent_ticket.messages.count() == 1


def test_the_same_mail_twice_is_added_once(sent_ticket):
    first, again = ingest("gmail_reply.eml"), ingest("gmail_reply.eml")
    assert again.duplicate and again.ticket_id == first.ticket_id
    assert InboundMail.objects.count() == 1


def test_html_only_mail_is_stored_as_clean_text(make_customer):
    make_customer(email="zhang.min@example-works.cn")
    ticket = Ticket.objects.get(pk=ingest("html_only.eml").ticket_id)
    body = ticket.messages.get().body
    assert "steal" not in body and "tracker" not in body and "<" not in body
    assert "- Speed: 4 m/min" in body


def test_the_command_ingests_files_and_says_what_became_of_each(li_wei, capsys):
    call_command("mail_ingest", str(DATA / "new_request_gbk.eml"), str(DATA / "bounce.eml"))
    out = capsys.readouterr().out
    assert "new_request_gbk.eml: opened ticket=" in out
    assert "bounce.eml: ignored ticket=-" in out


def test_erasing_the_sender_deletes_the_original_mail_and_forgets_who_sent_it(li_wei):
    from compliance.services import _erase

    ticket = Ticket.objects.get(pk=ingest("new_request_gbk.eml").ticket_id)
    original = ticket.attachments.get()
    assert original.uploaded_by == li_wei
    summary = _erase(li_wei, actor="system:test")
    assert not ticket.attachments.exists() and summary["mails"] == 1
    assert InboundMail.objects.get().sender_bidx == ""


def test_retention_forgets_who_sent_old_mail(li_wei):
    import datetime as dt

    from compliance.retention import retention_run

    ingest("new_request_gbk.eml")
    InboundMail.objects.update(received_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert retention_run()["mails"] == {"mails": 1}
    assert InboundMail.objects.get().sender_bidx == ""
