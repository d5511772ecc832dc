"""Only one beat schedules: a second waits for the lock and takes over when the first is gone
(servicedesk/beat.py, core/leader.py)."""

from __future__ import annotations

import logging
import time

import pytest
from django.db import connection

from core.leader import Leadership
from servicedesk.tests.drills import (
    Desk,
    PrivateRedis,
    _wait,
    prepare_schedules,
    redis_server_binary,
)

log = logging.getLogger("welddesk.drills")


def test_a_second_holder_waits_until_the_first_lets_go(db):
    first, second = Leadership("beat-test"), Leadership("beat-test")
    try:
        assert first.acquire()
        assert not second.acquire()
        assert first.held() and not second.held()
        first.release()
        assert second.acquire() and second.held()
        assert not first.acquire()
    finally:
        first.release()
        second.release()


def test_other_names_do_not_wait_for_each_other(db):
    beat, other = Leadership("beat-test"), Leadership("another-job")
    try:
        assert beat.acquire() and other.acquire()
    finally:
        beat.release()
        other.release()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_holder_whose_connection_ended_knows_it_lost_the_lock():
    """A database restart or a killed session frees the advisory lock on the server; the beat
    that held it must not carry on scheduling as if it still did."""
    first, second = Leadership("beat-test"), Leadership("beat-test")
    try:
        assert first.acquire()
        pid = first._conn.info.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        _wait(lambda: not first.held(), seconds=5, what="the holder to notice")
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()


@pytest.mark.fault_drill
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_second_beat_process_waits_then_takes_over_when_the_first_dies(tmp_path, settings):
    from core.startup import verify_encryption_keys

    if redis_server_binary() is None:
        if settings.REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but redis-server is not installed")
        pytest.skip("needs redis-server")
    verify_encryption_keys()
    prepare_schedules(every_seconds=1)
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    desk = Desk(tmp_path, redis)
    try:
        desk.start_beat()  # waits until it has sent a task
        desk._start(
            "beat2",
            ["-m", "celery", "-A", "servicedesk", "beat", "-l", "INFO",
             "--pidfile", str(tmp_path / "beat2.pid")],
        )  # fmt: skip
        _wait(
            lambda: "another beat holds the lock" in desk.log("beat2"),
            seconds=60,
            what="the second beat to wait",
        )
        time.sleep(3)  # the first sends every second meanwhile; the second must not
        assert "Sending due task" not in desk.log("beat2")
        desk.assert_running("beat", "beat2")

        desk.kill("beat")
        started = time.monotonic()
        _wait(
            lambda: "Sending due task" in desk.log("beat2"),
            seconds=30,
            what="the second beat to take over",
        )
        assert "beat lock taken over" in desk.log("beat2")
        # It asks every WAIT_SECONDS (5 s): the takeover is that quick, not a timeout's length.
        assert time.monotonic() - started < 15
    finally:
        desk.stop()
        redis.stop()
        for name in ("beat", "beat2"):
            log.warning("----- %s log (tail)\n%s", name, desk.log(name)[-3000:])  # shown on failure
