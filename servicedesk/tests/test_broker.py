"""The broker transport and settings that keep workers and beat alive through Redis outages.

The outages themselves are drilled with real processes in test_fault_drills.py; this is the
crash they found, reduced to the two calls that make it.
"""

from __future__ import annotations

import pytest
from kombu import Connection, Exchange, Queue
from kombu.common import ignore_errors

from servicedesk.tests.drills import PrivateRedis, redis_server_binary


@pytest.fixture
def private_redis(tmp_path, settings):
    if redis_server_binary() is None:
        if settings.REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but redis-server is not installed")
        pytest.skip("needs redis-server (apt-get install redis-server)")
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def test_closing_a_detached_channel_with_unacked_messages_does_not_end_the_worker(private_redis):
    """The state Celery's consumer reaches when Redis goes away under load: the channel
    holds an unacknowledged message and `Connection.collect()` has detached the transport
    (client None). Closing the channel again (Consumer.on_connection_error_after_connected)
    restores the message; kombu's own transport raised AttributeError there, which
    `ignore_errors` does not ignore, and the worker died. Ours reports a connection error,
    ignored like any other, and the message waits in Redis for the visibility timeout."""
    import redis

    connection = Connection(private_redis.url(0), transport="servicedesk.broker:RedisTransport")
    channel = connection.default_channel
    queue = Queue("drill", Exchange("drill", type="direct"), "drill", channel=channel)
    queue.declare()
    with connection.Producer() as producer:
        producer.publish({"task": "drill"}, exchange=queue.exchange, routing_key="drill")
    received = []
    consumer = connection.Consumer(
        [queue], callbacks=[lambda body, message: received.append(message)], channel=channel
    )
    consumer.consume()
    connection.drain_events(timeout=5)
    assert len(received) == 1 and len(channel.qos._delivered) == 1  # unacknowledged

    connection.transport.client = None  # what Connection.collect() leaves behind
    ignore_errors(connection, channel.close)  # raised AttributeError with kombu's transport

    assert redis.Redis(port=private_redis.port).hlen("unacked") == 1  # kept, not lost


def test_redis_brokers_use_the_fixed_transport(settings):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the broker is not Redis")
    from servicedesk.broker import RedisTransport
    from servicedesk.celery import app

    with app.connection_for_read() as connection:
        assert connection.get_transport_cls() is RedisTransport


def test_workers_and_beat_wait_for_the_broker_as_long_as_it_takes():
    from servicedesk.celery import app

    assert app.conf.broker_connection_max_retries is None  # Celery's default gives up at 100
    assert app.conf.broker_connection_retry_on_startup is True
    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is False
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost


def test_no_task_waits_to_retry_longer_than_the_visibility_timeout():
    """Checklist 44: a task that asked the broker to hold it back (a retry countdown) longer
    than Redis's visibility timeout would be handed to a second worker while the first still
    waits, and run twice. Every registered task of the desk retries sooner, or not through the
    broker at all (deliveries wait in the outbox, `next_attempt_at`)."""
    from django.conf import settings

    from servicedesk.celery import app

    app.loader.import_default_modules()
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    ours = {
        name: task
        for name, task in app.tasks.items()
        if not name.startswith("celery.") and task.__module__.split(".")[0] != "celery"
    }
    assert len(ours) >= 10, sorted(ours)  # the walk saw the desk's tasks
    for name, task in ours.items():
        delays = [task.default_retry_delay or 0]
        if getattr(task, "autoretry_for", ()):
            backoff = getattr(task, "retry_backoff", False)
            delays.append(getattr(task, "retry_backoff_max", 600) if backoff else 0)
        assert max(delays) < visibility, name
    # Nor does any code hold a task back by hand: a `countdown=`/`eta=` or `self.retry(...)`
    # added later must be checked against the visibility timeout here.
    import re
    from pathlib import Path

    held = re.compile(r"\.retry\(|[(,]\s*(countdown|eta)\s*=")  # a call's keyword argument
    root = Path(settings.BASE_DIR)
    found = [
        str(path.relative_to(root))
        for path in root.glob("*/**/*.py")
        if not {"tests", ".venv", "var", "bench", "migrations"} & set(path.relative_to(root).parts)
        and held.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []
