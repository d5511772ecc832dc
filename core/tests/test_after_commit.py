"""What runs after a commit must not undo the answer: found by the database fault drill.

A create whose writes were committed answered 500 (a task name not yet registered in a fresh
web process raised from the after-commit hand-over), and the idempotency layer then freed the
key: the client's retry with the same key created a second ticket.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError, connection, transaction
from django.test import RequestFactory
from rest_framework.response import Response

from core import queue
from core.idempotency import idempotent
from core.models import EncryptionCanary

ROOT = Path(__file__).resolve().parents[2]


def post(key: str):
    return RequestFactory().post(
        "/api/v1/things/", {"a": 1}, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


def create_one(*, after_commit=None):
    """A handler that writes one row and, optionally, registers a step after commit."""

    def handler() -> Response:
        row = EncryptionCanary.objects.create(value="x")
        if after_commit is not None:
            transaction.on_commit(after_commit)
        return Response({"id": row.pk}, status=201)

    return handler


def fail_after_commit() -> None:
    raise RuntimeError("an after-commit step failed")


@pytest.mark.django_db(transaction=True)
def test_an_after_commit_failure_keeps_the_committed_answer_and_its_key():
    first = idempotent(
        post("k-1"), scope="org:1", handler=create_one(after_commit=fail_after_commit)
    )
    assert first.status_code == 201
    replay = idempotent(post("k-1"), scope="org:1", handler=create_one())
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.data == first.data
    assert EncryptionCanary.objects.count() == 1  # one effect for one key


@pytest.mark.django_db(transaction=True)
def test_a_commit_answered_by_a_lost_connection_but_done_keeps_its_answer(monkeypatch):
    """The connection breaks while COMMIT is answered, after the server committed: the
    stored answer is read back instead of freeing the key for a second create."""
    real_commit = connection.commit
    commits = []

    def commit_then_lose_the_answer():
        real_commit()
        commits.append(1)
        if len(commits) == 2:  # the request's own transaction (the first one is the claim)
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(connection, "commit", commit_then_lose_the_answer)
    first = idempotent(post("k-2"), scope="org:1", handler=create_one())
    assert first.status_code == 201
    replay = idempotent(post("k-2"), scope="org:1", handler=create_one())
    assert replay.data == first.data and replay["Idempotent-Replayed"] == "true"
    assert EncryptionCanary.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failure_before_commit_still_frees_the_key():
    def broken() -> Response:
        EncryptionCanary.objects.create(value="x")
        raise RuntimeError("a bug in the view")

    with pytest.raises(RuntimeError):
        idempotent(post("k-3"), scope="org:1", handler=broken)
    assert idempotent(post("k-3"), scope="org:1", handler=create_one()).status_code == 201
    assert EncryptionCanary.objects.count() == 1


def test_send_now_never_raises_after_commit():
    """An unknown task is logged and left for the sweep, and does not count as the broker
    being down."""
    queue.reset_breaker()
    assert queue.send_now("no.such_task", 1) is False
    assert not queue.broker_marked_down()


def test_tasks_resolve_from_many_threads_at_once_in_a_fresh_process():
    """A fresh web process imports the task modules on first use; four requests at once all
    find the task (one of them used to get NotRegistered halfway through the import)."""
    code = """
import os, threading
os.environ["DJANGO_SETTINGS_MODULE"] = "servicedesk.settings"
import django
django.setup()
from core.queue import _resolve
errors, barrier = [], threading.Barrier(6)
def look_up():
    barrier.wait()
    try:
        _resolve("notifications.deliver_outbox")
    except Exception as exc:
        errors.append(type(exc).__name__)
threads = [threading.Thread(target=look_up) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print("ERRORS", errors)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert "ERRORS []" in result.stdout, result.stdout + result.stderr[-2000:]
