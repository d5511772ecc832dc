"""The transactional outbox: written with the change, delivered once, retried, swept."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from notifications import selectors, services
from notifications.models import Outbox, Status
from notifications.sms import LocmemSMSBackend

pytestmark = pytest.mark.django_db


def enqueue(key: str = "test:1", **kwargs) -> Outbox:
    fields = {
        "channel": "email",
        "recipient": "chen@jinchuan.example",
        "subject": "Hello",
        "body": "Body",
    }
    fields.update(kwargs)
    return services._enqueue(key=key, **fields)


def test_delivery_happens_after_commit_exactly_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        row = enqueue()
        assert mail.outbox == []  # nothing leaves before commit
    assert len(callbacks) == 1
    assert len(mail.outbox) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)
    assert mail.outbox[0].extra_headers["Message-ID"].endswith("@welddesk.outbox>")


def test_an_email_keeps_the_message_id_chosen_when_written_and_its_thread_headers(
    django_capture_on_commit_callbacks, make_customer
):
    """A retry sends the same Message-ID, and an answer quoting it finds what it was about
    (the header names themselves are checked by notifications.messages)."""
    customer = make_customer()
    with django_capture_on_commit_callbacks(execute=True):
        row = enqueue(
            about=customer,
            headers={
                "In-Reply-To": "<a@customer.example>",
                "References": "<root@customer.example> <a@customer.example>",
                "Reply-To": "service@desk.example",
            },
        )
    assert row.message_id.endswith("@welddesk.outbox>")
    sent = mail.outbox[0]
    assert sent.extra_headers["Message-ID"] == row.message_id  # the one stored at write time
    assert sent.extra_headers["In-Reply-To"] == "<a@customer.example>"
    assert sent.extra_headers["Reply-To"] == "service@desk.example"
    assert selectors.about_of_message_ids([row.message_id, "<unknown@x.example>", ""]) == {
        row.message_id: ("accounts.user", str(customer.pk))
    }
    assert enqueue(key="test:sms", channel="sms", recipient="+8613800000000").message_id == ""


def test_an_exception_after_the_write_leaves_no_row_and_no_message(
    django_capture_on_commit_callbacks,
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        enqueue()
        raise RuntimeError("business rule failed after the save")
    assert callbacks == []
    assert not Outbox.objects.exists()
    assert mail.outbox == []


def test_the_same_key_twice_gives_one_row_and_one_message(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = enqueue("ticket:7:reply:3:email")
        second = enqueue("ticket:7:reply:3:email", body="changed")
    assert first.pk == second.pk
    assert Outbox.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_task_delivered_twice_sends_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        row = enqueue()
    assert services.outbox_deliver(outbox_id=row.pk) == "sent"
    assert services.outbox_deliver(outbox_id=row.pk) == "already-sent"
    assert len(mail.outbox) == 1


def test_failures_retry_with_backoff_and_keep_no_personal_data(
    settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "notifications.tests.test_outbox.RefusingBackend"
    with django_capture_on_commit_callbacks(execute=True):
        row = enqueue(recipient="secret.person@factory.example")
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.attempts == 1
    assert row.last_error == "SMTPRecipientsRefused"
    assert "secret.person" not in row.last_error
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=20)


def test_after_the_last_attempt_the_row_fails_and_can_be_retried(
    settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "notifications.tests.test_outbox.RefusingBackend"
    settings.OUTBOX_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks(execute=True):
        row = enqueue()
    Outbox.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert services.outbox_deliver(outbox_id=row.pk) == "failed"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        assert services.outbox_retry(ids=[row.pk]) == 1
    row.refresh_from_db()
    assert row.status == Status.SENT and len(mail.outbox) == 1


def test_crlf_in_a_subject_cannot_add_email_headers(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        enqueue(subject="Fault report\r\nBcc: attacker@evil.example\nX-Injected: 1")
    message = mail.outbox[0].message()
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "\n" not in mail.outbox[0].subject


def test_recipient_subject_and_body_are_encrypted_at_rest():
    from django.db import connection

    row = enqueue(recipient="zhao.lei@beichen.example", subject="您的工单", body="焊缝气孔")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT recipient, subject, body FROM notifications_outbox WHERE id = %s", [row.pk]
        )
        raw = " ".join(cursor.fetchone())
    assert "zhao" not in raw and "工单" not in raw and "气孔" not in raw


def test_sweep_hands_over_due_rows_only(settings, django_capture_on_commit_callbacks):
    settings.OUTBOX_SWEEP_AFTER_SECONDS = 30
    with django_capture_on_commit_callbacks(execute=False):
        old = enqueue("old")
        fresh = enqueue("fresh")
        later = enqueue("later")
    Outbox.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    Outbox.objects.filter(pk=later.pk).update(
        created_at=timezone.now() - timedelta(minutes=5),
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    assert services.outbox_sweep() == 1
    statuses = dict(Outbox.objects.values_list("key", "status"))
    assert statuses == {"old": "sent", "fresh": "pending", "later": "pending"}
    assert fresh.pk  # still waiting for its own task


def test_unknown_channel_and_missing_recipient_are_refused():
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError, match="channel"):
        enqueue(channel="pigeon")
    with pytest.raises(ApplicationError, match="recipient"):
        enqueue(recipient="  ")
    assert not Outbox.objects.exists()


def test_sms_goes_through_the_configured_adapter(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services._enqueue(
            key="sms:1", channel="sms", recipient="+8613800138000", body="热线中断，请使用在线客服"
        )
    assert LocmemSMSBackend.outbox == [
        {"to": "+8613800138000", "body": "热线中断，请使用在线客服", "key": "sms:1"}
    ]


class FakeSMSProvider(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_next = 0

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        type(self).received.append(
            {
                "body": body,
                "auth": self.headers["Authorization"],
                "key": self.headers["Idempotency-Key"],
            }
        )
        status = 503 if type(self).fail_next > 0 else 202
        type(self).fail_next -= 1
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        return None


@pytest.fixture
def sms_provider(settings):
    FakeSMSProvider.received = []
    FakeSMSProvider.fail_next = 0
    server = HTTPServer(("127.0.0.1", 0), FakeSMSProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMS_BACKEND = "notifications.sms.HttpSMSBackend"
    settings.SMS_API_URL = f"http://127.0.0.1:{server.server_port}/v1/sms"
    settings.SMS_API_TOKEN = "test-token"
    yield FakeSMSProvider
    server.shutdown()


def test_http_sms_adapter_talks_to_a_provider_on_loopback(
    sms_provider, django_capture_on_commit_callbacks
):
    sms_provider.fail_next = 1
    with django_capture_on_commit_callbacks(execute=True):
        row = services._enqueue(
            key="sms:outage:1", channel="sms", recipient="+8613800138000", body="热线中断"
        )
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.last_error == "SMSError"
    Outbox.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert services.outbox_deliver(outbox_id=row.pk) == "sent"
    assert [r["key"] for r in sms_provider.received] == ["sms:outage:1", "sms:outage:1"]
    assert sms_provider.received[-1]["body"] == {"to": "+8613800138000", "body": "热线中断"}
    assert sms_provider.received[-1]["auth"] == "Bearer test-token"


def test_outbox_backlog_is_exported_on_metrics(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        enqueue("pending-1")
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'welddesk_outbox_messages{status="pending"} 1.0' in text
    assert "welddesk_outbox_oldest_pending_seconds" in text


class RefusingBackend:
    """An email backend whose server refuses every recipient (names the address, as SMTP does)."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        import smtplib

        raise smtplib.SMTPRecipientsRefused({m.to[0]: (550, b"no such user") for m in messages})


def test_rows_written_together_are_handed_over_in_batches(django_capture_on_commit_callbacks):
    total = services.DELIVER_BATCH + 5
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        rows = [enqueue(f"batch:{n}", hand_over=False) for n in range(total)]
        services.outbox_hand_over([row.pk for row in rows])
        assert mail.outbox == []
    # Two publishes (25 ids and 5), not 30; every row delivered once.
    assert len(callbacks) == 2
    assert len(mail.outbox) == total
    assert set(Outbox.objects.values_list("status", flat=True)) == {Status.SENT}


def test_a_row_not_handed_over_is_left_for_the_sweep(settings, django_capture_on_commit_callbacks):
    settings.OUTBOX_SWEEP_AFTER_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        row = enqueue("quiet", hand_over=False)
    assert callbacks == [] and mail.outbox == []
    assert services.outbox_sweep() == 1
    row.refresh_from_db()
    assert row.status == Status.SENT
