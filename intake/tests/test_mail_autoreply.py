"""Acknowledgements of mail: threaded under the customer's mail, with the reference and the
due time, an out-of-hours notice, a regional incident and its status page; never to
machines or lists, and a few an hour per sender at most."""

from __future__ import annotations

import datetime as dt

import pytest

from intake.mail import autoreply
from intake.mail.services import mail_ingest
from notifications.models import Outbox
from status import services as status_services
from tickets.models import Ticket

from .test_mail_ingest import eml

pytestmark = pytest.mark.django_db


def new_mail(n: int, sender: str = "li.wei@example-works.cn", extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\nSubject: Laser alarm {n}\r\nMessage-ID: <m{n}@example-works.cn>\r\n"
        f"{extra}\r\nThe laser stops with E101.\r\n"
    ).encode()


def acks():
    return list(Outbox.objects.filter(key__startswith="mail-ack:").order_by("pk"))


@pytest.fixture
def li_wei(make_customer, sla_setup, queue_setup):
    return make_customer(email="li.wei@example-works.cn", language="en")


def test_a_new_ticket_by_mail_is_acknowledged_once_threaded_under_the_mail(li_wei):
    done = mail_ingest(raw=eml("new_request_gbk.eml"), source="test")
    ticket = Ticket.objects.get(pk=done.ticket_id)
    [ack] = acks()
    assert ack.recipient == "li.wei@example-works.cn"
    assert ack.headers["In-Reply-To"] == "<new-request-0001@example-works.cn>"
    assert ticket.reference in ack.subject and ticket.reference in ack.body
    assert "An engineer will answer by" in ack.body
    assert not Outbox.objects.filter(key__startswith="ticket-opened")  # not a second notice


def test_machines_lists_and_no_reply_senders_get_no_answer(li_wei, make_customer):
    make_customer(email="noreply@example-works.cn")
    mail_ingest(raw=new_mail(1, extra="List-Id: <team.example-works.cn>\r\n"), source="test")
    mail_ingest(raw=new_mail(2, sender="noreply@example-works.cn"), source="test")
    mail_ingest(raw=eml("auto_reply.eml"), source="test")
    mail_ingest(raw=eml("bounce.eml"), source="test")
    assert Ticket.objects.count() == 2  # the list mail and the no-reply one are still filed
    assert acks() == []


def test_at_most_n_acknowledgements_per_sender_an_hour(li_wei, settings):
    settings.MAIL_AUTOREPLY_PER_HOUR = 2
    for n in range(4):
        mail_ingest(raw=new_mail(n), source="test")
    assert Ticket.objects.count() == 4 and len(acks()) == 2


def test_out_of_hours_the_acknowledgement_says_so(li_wei, monkeypatch):
    mail_ingest(raw=new_mail(1), source="test")
    ticket = Ticket.objects.get()
    sunday_night = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.UTC)
    tuesday_morning = dt.datetime(2026, 12, 8, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    assert autoreply.out_of_hours(ticket, sunday_night)
    assert not autoreply.out_of_hours(ticket, tuesday_morning)
    monkeypatch.setattr(autoreply, "out_of_hours", lambda ticket, now: True)
    mail_ingest(raw=new_mail(2), source="test")
    assert "The service desk is closed now" in acks()[-1].body


def test_an_incident_in_the_senders_region_is_mentioned_with_its_status_page(
    li_wei, components, sev, make_customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the status summary is renewed
        status_services.incident_open(
            actor="system",
            severity=sev["sev2"],
            title_en="Hotline East down",
            title_zh="华东热线中断",
            components={components["east"]: "major_outage"},
            body_en="Call us by chat.",
            body_zh="请使用在线客服。",
        )
    mail_ingest(raw=new_mail(1), source="test")
    body = acks()[-1].body
    assert "Known problem in your region: Hotline East down" in body
    assert "/status/incidents/" in body
    chen = make_customer(email="chen@example-works.cn", language="zh-hans")
    mail_ingest(raw=new_mail(2, sender=chen.email), source="test")
    assert "华东热线中断" in acks()[-1].body


def test_the_acknowledgement_goes_by_e_mail_only_marked_as_an_automatic_answer(
    li_wei, make_customer
):
    """It answers a mail: no SMS or WeCom even when the customer chose them, and RFC 3834's
    Auto-Submitted keeps other responders from answering it."""
    texter = make_customer(email="wang.fang@example-works.cn", phone="+8613800000001")
    texter.notify_sms = True
    texter.save(update_fields=["notify_sms"])
    mail_ingest(raw=new_mail(1, sender=texter.email), source="test")
    [ack] = acks()
    assert (ack.channel, ack.recipient) == ("email", texter.email)
    assert ack.headers["Auto-Submitted"] == "auto-replied"
    assert not Outbox.objects.filter(channel="sms")


def test_a_customer_who_turned_e_mail_off_gets_no_acknowledgement(li_wei):
    li_wei.notify_email = False
    li_wei.save(update_fields=["notify_email"])
    done = mail_ingest(raw=new_mail(1), source="test")
    assert done.ticket_id and acks() == []
