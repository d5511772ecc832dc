"""Outbound ticket e-mail through Django's SMTP backend to a real SMTP server on loopback
(aiosmtpd): it carries Message-ID, In-Reply-To, References and the reply address, and the
customer's answer to it, fed back in, lands on the same ticket."""

from __future__ import annotations

import email
import socket
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from intake.mail.services import mail_ingest
from intake.models import MailOutcome
from notifications.models import Outbox
from tickets.services.tickets import ticket_reply

from .test_mail_ingest import eml

pytestmark = pytest.mark.django_db(transaction=True)

REPLY_TO = "service+reply@welddesk.example"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    settings.MAIL_REPLY_ADDRESS = REPLY_TO
    yield inbox
    controller.stop()


def deliver_all():
    from notifications.services import outbox_deliver

    for pk in Outbox.objects.filter(status="pending", channel="email").values_list("pk", flat=True):
        outbox_deliver(outbox_id=pk)


def test_ticket_mail_threads_both_ways_through_a_real_smtp_server(
    smtp, sla_setup, queue_setup, make_customer
):
    customer = make_customer(email="li.wei@example-works.cn", language="zh-hans")
    opened = mail_ingest(raw=eml("new_request_gbk.eml"), source="test")
    deliver_all()
    ack = smtp.messages[-1]
    assert ack["To"] == "li.wei@example-works.cn"
    assert ack["In-Reply-To"] == "<new-request-0001@example-works.cn>"
    assert ack["Reply-To"] == REPLY_TO
    stored = Outbox.objects.get(
        about_id=str(opened.ticket_id), channel="email", key__startswith="mail-ack"
    )
    assert ack["Message-ID"].strip() == stored.message_id

    # An agent answers: the mail references the customer's mail.
    from tickets.models import Ticket

    ticket = Ticket.objects.get(pk=opened.ticket_id)
    ticket_reply(ticket=ticket, author=ticket.assignee or queue_setup[2][0], body="请检查冷水机。")
    deliver_all()
    answer = smtp.messages[-1]
    assert "<new-request-0001@example-works.cn>" in answer["References"]

    # The customer's mail program answers the agent's mail: it finds the ticket by header.
    raw = (
        f"From: Li Wei <{customer.email}>\r\nTo: {REPLY_TO}\r\n"
        f"Subject: Re: {answer['Subject']}\r\nMessage-ID: <again-1@example-works.cn>\r\n"
        f"In-Reply-To: {answer['Message-ID']}\r\nReferences: {answer['References']} "
        f"{answer['Message-ID']}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "冷水机已检查，温度正常。\r\n\r\n> 请检查冷水机。\r\n"
    ).encode()
    done = mail_ingest(raw=raw, source="test")
    assert (done.outcome, done.ticket_id) == (MailOutcome.REPLIED, ticket.pk)
    assert ticket.messages.order_by("pk").last().body == "冷水机已检查，温度正常。"
