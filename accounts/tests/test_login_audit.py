"""The audit and the logs of signing in: one event per act, no secret in any log line."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from audit.models import AuditEvent
from core.logging import RequestContextFilter, SafeFormatter
from testsupport import PASSWORD, add_totp, current_code

pytestmark = pytest.mark.django_db

IP = "198.51.100.23"


def formatted(records: list[logging.LogRecord]) -> list[str]:
    """The records as the desk's log handler writes them (settings.LOGGING's formatter)."""
    line = settings.LOGGING["formatters"]["line"]["format"]
    formatter = SafeFormatter(line)
    lines = []
    for record in records:
        RequestContextFilter().filter(record)
        lines.append(formatter.format(record))
    return lines


def test_sign_in_otp_and_reset_are_each_audited_once_and_no_log_holds_a_secret(
    make_staff, caplog, django_capture_on_commit_callbacks
):
    """Checklist 26: a failed and a successful sign-in, a wrong and a right code, a reset
    request and the reset itself each write exactly one audit event with UTC time, actor,
    IP and outcome; no log line holds the password, the code, the session id or the token."""
    from django.core.cache import cache

    cache.clear()  # the reset throttle counts in the cache
    staff = make_staff(email="lu.wei@welddesk.example")
    device = add_totp(staff)
    client = Client(REMOTE_ADDR=IP)
    secrets: list[str] = [PASSWORD, "Wrong-Pa55word-xyz"]
    with caplog.at_level(logging.DEBUG):
        client.post("/accounts/login/", {"email": staff.email, "password": "Wrong-Pa55word-xyz"})
        client.post("/accounts/login/", {"email": staff.email, "password": PASSWORD})
        secrets.append(client.cookies["sessionid"].value)
        wrong_code = "123456" if current_code(device) != "123456" else "654321"
        client.post("/accounts/2fa/verify/", {"token": wrong_code})
        device.refresh_from_db()
        device.throttle_reset()
        right_code = current_code(device)
        client.post("/accounts/2fa/verify/", {"token": right_code})
        secrets += [wrong_code, right_code, client.cookies["sessionid"].value]
        with django_capture_on_commit_callbacks(execute=True):
            Client(REMOTE_ADDR=IP).post("/accounts/password/reset/", {"email": staff.email})
        link = re.search(r"https?://\S+/accounts/password/reset/\S+", mail.outbox[-1].body)[0]
        token = link.rstrip("/").split("/")[-1]
        secrets.append(token)
        reset = Client(REMOTE_ADDR=IP)
        form = reset.get("/" + link.split("://", 1)[1].split("/", 1)[1], follow=True)
        new_password = "a new passphrase for lu wei"
        secrets.append(new_password)
        reset.post(
            form.redirect_chain[-1][0],
            {"new_password1": new_password, "new_password2": new_password},
        )

    expected = {
        "auth.login_failed": "failure",
        "auth.login": "success",
        "otp.failed": "failure",
        "otp.verified": "success",
        "user.password_reset_requested": "success",
        "user.password_changed": "success",
    }
    for action, outcome in expected.items():
        events = list(AuditEvent.objects.filter(action=action))
        assert len(events) == 1, action
        event = events[0]
        assert event.at.utcoffset() == timedelta(0), action
        assert event.actor_ref and event.ip == IP and event.outcome == outcome, action
    lines = formatted(caplog.records)
    assert any("POST /accounts/login/" in line for line in lines)
    text = "\n".join(lines)
    for secret in secrets:
        assert secret not in text


def test_a_user_name_with_line_breaks_cannot_forge_a_log_line(client, caplog):
    """Checklist 32: signing in as "x\\nINFO forged" leaves every log entry on one line; the
    name is never logged raw (the access log names no email), and the formatter writes any
    line break in a logged value as \\n."""
    forged = "mallory@x.example\nINFO welddesk.access POST /admin/ 200 forged\r"
    with caplog.at_level(logging.DEBUG):
        response = client.post("/accounts/login/", {"email": forged, "password": "whatever"})
        logging.getLogger("welddesk.test").warning("user %s", forged)  # a value that is logged
    assert response.status_code == 400
    lines = formatted(caplog.records)
    assert lines and all("\n" not in line and "\r" not in line for line in lines)
    assert not any(line.startswith("INFO welddesk.access POST /admin/") for line in lines)
    assert sum("mallory" in line for line in lines) == 1  # only the line that logged it
    assert any("mallory@x.example\\nINFO welddesk.access" in line for line in lines)
