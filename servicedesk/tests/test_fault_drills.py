"""Fault drills against real processes: Redis stopped, a worker killed, database backends
terminated, each while a partner system creates tickets through the API.

Each drill runs a desk of its own (Daphne, a Celery worker, Celery beat; servicedesk/tests/
drills.py) on the test database and a private redis-server, injects the fault, and then
checks that the desk caught up by itself: every 201 has exactly one ticket, every outbox row
was delivered exactly once, audit sealing caught up and `audit_verify` passes, and the worker
and beat are still running. They run on the PostgreSQL + Redis pass of `make test`
(marker `fault_drill`; about two minutes together).
"""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest
from django.db import connection

from servicedesk.tests.drills import Desk, assert_caught_up

log = logging.getLogger("welddesk.drills")

pytestmark = [
    pytest.mark.fault_drill,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


def wait_for_a_delivery(desk: Desk, seconds: float = 60) -> list:
    """Wait until a worker is in the middle of sending a message; return its marks."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        marks = list(desk.marks_dir.glob("sending-*"))
        if marks:
            return marks
        time.sleep(0.02)
    raise AssertionError("no delivery was in progress")


def test_redis_stopped_for_5_and_for_30_seconds_under_load(drill):
    """Workers and beat survive Redis outages of 5 s and 30 s and resume by themselves; the
    API keeps answering 201 during them; nothing is lost or sent twice."""
    redis, make_desk = drill
    desk, load = make_desk()
    reports = []
    for outage in (5, 30):
        load.start()
        time.sleep(2)
        redis.stop()
        down_at = time.monotonic()
        time.sleep(outage)
        desk.assert_running("web", "worker", "beat")
        during = load.latencies_between(down_at, time.monotonic())
        redis.start()
        time.sleep(2)
        load.stop()
        report = assert_caught_up(desk, load)
        # Creates go on while Redis is down, promptly: no request waits on Redis (checklist
        # 42: within 1 s; the slowest may take longer on a busy two-core machine, as in
        # test_broker_outage, but none hangs).
        assert during, "no ticket was created while Redis was down"
        median = during[len(during) // 2]
        report.update(
            created_during_outage=len(during),
            median_201_during_outage=round(median, 3),
            slowest_201_during_outage=round(during[-1], 3),
        )
        assert median < 1.0 and during[-1] < 2.5, report
        reports.append(report)
    log.warning("redis outage drill: %s", reports)


def test_a_worker_killed_with_sigkill_mid_delivery(drill):
    """SIGKILL on the pool process that is sending a message: the task is redelivered and the
    message sent once. Then SIGKILL on the whole worker mid-delivery, and a new worker:
    the rows it held are handed over again by the sweep and sent once."""
    _redis, make_desk = drill
    desk, load = make_desk(send_seconds=0.5)  # a slow mail server: deliveries take a while
    load.start()
    marks = wait_for_a_delivery(desk)
    os.kill(int(marks[0].name.split("-")[1]), signal.SIGKILL)  # one pool process
    deadline = time.monotonic() + 30
    while "signal 9 (SIGKILL)" not in desk.log("worker") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "signal 9 (SIGKILL)" in desk.log("worker")  # the worker saw its process lost
    wait_for_a_delivery(desk)
    desk.kill("worker")  # the whole worker node
    desk.start_worker("worker2")
    time.sleep(2)
    load.stop()
    report = assert_caught_up(desk, load, running=("web", "worker2", "beat"))
    log.warning("worker kill drill: %s", report)


def test_database_backends_terminated_under_load(drill):
    """pg_terminate_backend on every connection of the web process, the worker and beat,
    three times, each while a message is being sent: the worker's transaction is lost after
    the provider took the message, the web's requests in flight fail and their clients retry
    with the same keys. Nothing is lost, doubled or sent twice."""
    _redis, make_desk = drill
    desk, load = make_desk(send_seconds=0.5)
    load.start()
    terminated = 0
    for _ in range(3):
        wait_for_a_delivery(desk)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            terminated += cursor.fetchone()[0]
        time.sleep(1)
    load.stop()
    assert terminated >= 3
    report = assert_caught_up(desk, load)
    log.warning("database drill: %s, backends terminated: %s", report, terminated)
    assert "recorded after the database connection was lost" in desk.log("worker")
