"""Parallel sign-ins for one account, on PostgreSQL: the lock is counted before the password.

Each thread is one request with its own database connection, as parallel requests to several
server processes would be. Every password check is held for a moment, so the checks overlap
for certain: with the count taken after the check (the old code), all of them would run.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from testsupport import PASSWORD

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOIN_SECONDS = 60
HOLD_SECONDS = 0.5
LOGIN = "/accounts/login/"


def test_29_wrong_and_1_right_sign_in_in_parallel_check_only_five_passwords(
    make_customer, monkeypatch
):
    """Checklist 4 under a race: of 30 parallel sign-ins (29 wrong passwords, then the right
    one while the first five are still being checked), exactly five passwords are checked,
    the right one is refused because the lock was taken before it, and the lock holds."""
    user = make_customer()
    checked: list[str] = []
    entered = threading.Condition()
    original = User.check_password

    def slow_check(self, raw_password):
        with entered:
            checked.append(raw_password)
            entered.notify_all()
        time.sleep(HOLD_SECONDS)
        return original(self, raw_password)

    monkeypatch.setattr(User, "check_password", slow_check)
    answers: dict[int, str] = {}

    def sign_in(n: int, password: str) -> None:
        try:
            response = Client().post(
                LOGIN, {"email": user.email, "password": password}, REMOTE_ADDR=f"203.0.{n}.1"
            )
            # (The content, not response.context: template signals are shared by threads.)
            if response.status_code == 302:
                answers[n] = "signed in"
            else:
                answers[n] = "locked" if b"Too many failed" in response.content else "invalid"
        finally:
            connections.close_all()  # this thread's connection only

    def right_one() -> None:
        # Start once five wrong passwords are being checked: still in parallel with them.
        with entered:
            entered.wait_for(lambda: len(checked) >= 5, timeout=JOIN_SECONDS)
        sign_in(29, PASSWORD)

    threads = [threading.Thread(target=sign_in, args=(n, f"guess {n}")) for n in range(29)]
    threads.append(threading.Thread(target=right_one))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_SECONDS
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0))
    assert not any(t.is_alive() for t in threads), "sign-ins did not finish"

    assert len(checked) == 5 and PASSWORD not in checked
    assert answers[29] == "locked"
    # Four wrong passwords were refused as wrong, the fifth locked, the rest were not checked.
    assert sorted(answers.values()) == ["invalid"] * 4 + ["locked"] * 26
    failed = AuditEvent.objects.filter(action="auth.login_failed")
    assert failed.filter(data__reason="bad_credentials").count() == 5
    assert failed.filter(data__reason="locked").count() == 25
    assert AuditEvent.objects.filter(action="auth.locked").count() == 1
    assert not AuditEvent.objects.filter(action="auth.login").exists()
    # The lock still holds afterwards: the right password from yet another network.
    monkeypatch.setattr(User, "check_password", original)
    later = Client().post(
        LOGIN, {"email": user.email, "password": PASSWORD}, REMOTE_ADDR="10.9.9.9"
    )
    assert later.status_code == 400


def test_a_right_password_that_got_its_place_signs_in_and_does_not_lift_others_count(
    make_customer, monkeypatch
):
    """The right password among the first attempts signs in; the wrong ones counted after it
    keep their count (it gives back only its own place)."""
    user = make_customer()
    original = User.check_password
    started = threading.Event()

    def slow_check(self, raw_password):
        if raw_password == PASSWORD:
            started.set()
            time.sleep(HOLD_SECONDS)  # the wrong ones are counted while this one is checked
        return original(self, raw_password)

    monkeypatch.setattr(User, "check_password", slow_check)
    results: dict[str, int] = {}

    def post(name: str, password: str, ip: str) -> None:
        try:
            response = Client().post(
                LOGIN, {"email": user.email, "password": password}, REMOTE_ADDR=ip
            )
            results[name] = response.status_code
        finally:
            connections.close_all()

    right = threading.Thread(target=post, args=("right", PASSWORD, "198.51.100.7"))
    right.start()
    assert started.wait(JOIN_SECONDS)
    wrong = [
        threading.Thread(target=post, args=(f"w{n}", "guess", f"203.0.{n}.1")) for n in range(4)
    ]
    for thread in wrong:
        thread.start()
    for thread in [right, *wrong]:
        thread.join(JOIN_SECONDS)
    assert results["right"] == 302
    assert [results[f"w{n}"] for n in range(4)] == [400] * 4
    # Four failures remain counted: the fifth from a stranger's network locks.
    monkeypatch.setattr(User, "check_password", original)
    fifth = Client().post(LOGIN, {"email": user.email, "password": "x"}, REMOTE_ADDR="203.0.9.1")
    assert b"Too many failed" in fifth.content
