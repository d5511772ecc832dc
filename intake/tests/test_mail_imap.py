"""The IMAP poller against a real IMAP server on loopback (intake/tests/imap_server.py, TLS
with a certificate made by the test): mail becomes tickets, is marked done only after its
ticket commits, a crash in between neither loses nor doubles it, IDLE wakes on new mail."""

from __future__ import annotations

import json
import threading

import pytest

from intake.mail import imap
from intake.mail.services import mail_ingest
from intake.models import InboundMail
from tickets.models import Ticket

from .imap_server import FakeImap
from .test_mail_ingest import eml

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "imap-secret-for-tests"


@pytest.fixture
def server(tmp_path, settings, monkeypatch):
    fake = FakeImap(tmp_path, user="desk@welddesk.example", password=PASSWORD)
    port = fake.start()
    monkeypatch.setenv("MAIL_IMAP_PASSWORD_EAST", PASSWORD)
    settings.MAIL_IMAP_TIMEOUT = 5
    settings.MAIL_IMAP_MAILBOXES = json.dumps(
        [
            {
                "name": "east",
                "host": "127.0.0.1",
                "port": port,
                "user": "desk@welddesk.example",
                "password_env": "MAIL_IMAP_PASSWORD_EAST",
                "queue": "east-handheld",
                "done": "move:Done",
            }
        ]
    )
    yield fake
    fake.stop()


@pytest.fixture
def customers(make_customer, queue_setup, sla_setup):
    make_customer(email="li.wei@example-works.cn")
    make_customer(email="zhang.min@example-works.cn")
    return queue_setup[0]


def test_mail_in_the_mailbox_becomes_tickets_of_its_queue_and_is_moved_after(server, customers):
    first = server.deliver(eml("new_request_gbk.eml"))
    second = server.deliver(eml("html_only.eml"))
    results = imap.poll_mailboxes(context=server.client_context())
    assert results == {"east": {"ingested": 2, "duplicates": 0, "refused": 0, "failed": 0}}
    assert set(Ticket.objects.values_list("queue", flat=True)) == {customers.pk}
    assert server.folder_of(first) == server.folder_of(second) == "Done"
    assert "$WeldDesk" in server.flags(first)
    assert any("BODY.PEEK[]" in c for c in server.commands)  # fetched without \Seen
    assert not any(PASSWORD in c for c in server.commands)


def test_the_certificate_is_checked(server, customers):
    server.deliver(eml("new_request_gbk.eml"))
    results = imap.poll_mailboxes()  # the system's trust store does not know the test CA
    assert results == {"east": {"error": "SSLCertVerificationError"}}
    assert not Ticket.objects.exists()


def test_a_crash_between_commit_and_flag_neither_loses_nor_doubles_the_mail(
    server, customers, monkeypatch
):
    uid = server.deliver(eml("new_request_gbk.eml"))
    real_mark = imap._mark

    def crash(*args, **kwargs):
        raise ConnectionResetError("the poller died here")

    monkeypatch.setattr(imap, "_mark", crash)
    with pytest.raises(ConnectionResetError):
        imap.poll_mailboxes(context=server.client_context())
    assert Ticket.objects.count() == 1 and not server.flags(uid)  # committed, not marked
    monkeypatch.setattr(imap, "_mark", real_mark)
    again = imap.poll_mailboxes(context=server.client_context())
    assert again["east"]["duplicates"] == 1
    assert Ticket.objects.count() == 1 and InboundMail.objects.count() == 1
    assert server.folder_of(uid) == "Done"


def test_a_failed_ingest_leaves_the_mail_for_the_next_poll(server, customers, monkeypatch):
    uid = server.deliver(eml("new_request_gbk.eml"))

    def database_away(**kwargs):
        raise OSError("database away")

    monkeypatch.setattr(imap, "mail_ingest", database_away)
    assert imap.poll_mailboxes(context=server.client_context())["east"]["failed"] == 1
    assert server.folder_of(uid) == "INBOX" and not server.flags(uid)
    monkeypatch.setattr(imap, "mail_ingest", mail_ingest)
    assert imap.poll_mailboxes(context=server.client_context())["east"]["ingested"] == 1


def test_unreadable_mail_is_flagged_refused_and_not_fetched_again(server, customers):
    uid = server.deliver(b"Subject: no sender at all\r\n\r\nhello\r\n")
    assert imap.poll_mailboxes(context=server.client_context())["east"]["refused"] == 1
    assert "$WeldDeskRefused" in server.flags(uid)
    assert imap.poll_mailboxes(context=server.client_context())["east"]["refused"] == 0


def test_idle_wakes_when_new_mail_arrives(server, customers):
    box = imap.mailboxes()[0]
    conn = imap.connect(box, context=server.client_context())
    try:
        assert imap.supports_idle(conn)
        assert imap.idle_wait(conn, 0.3) is False  # nothing new: times out
        timer = threading.Timer(0.3, server.deliver, args=(eml("html_only.eml"),))
        timer.start()
        assert imap.idle_wait(conn, 10) is True
        assert imap.poll_once(box, conn)["ingested"] == 1  # the connection is still good
    finally:
        conn.logout()
