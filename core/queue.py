"""Hand Celery tasks to the broker after the transaction commits, never blocking on an outage.

Inside `batched()` (a service's transaction, an API write) what the commits hand over, the
tasks and the real-time events (core.realtime.publish_on_commit), is collected and sent
when the block ends: in one pipelined Redis round trip when the broker and the channel layer
share the Redis server, instead of a round trip per task and a thread hop and round trip per
event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlparse

from django.db import transaction

log = logging.getLogger(__name__)

# After a failed publish, skip the broker for a few seconds instead of paying a timeout per call.
_BREAKER_SECONDS = 5.0
_breaker_lock = threading.Lock()
_broker_down_until = 0.0


def broker_marked_down() -> bool:
    return time.monotonic() < _broker_down_until


def _mark_down() -> None:
    global _broker_down_until
    with _breaker_lock:
        _broker_down_until = time.monotonic() + _BREAKER_SECONDS


def reset_breaker() -> None:
    global _broker_down_until
    with _breaker_lock:
        _broker_down_until = 0.0


_import_lock = threading.Lock()


def _resolve(task: Any) -> Any:
    """Accept a task object or its registered name (services name tasks, never import them)."""
    if isinstance(task, str):
        from celery import current_app

        if task not in current_app.tasks:
            # Outside a worker the apps' tasks modules are imported on first use; one thread
            # at a time, or a second request could look a task up halfway through.
            with _import_lock:
                current_app.loader.import_default_modules()
        return current_app.tasks[task]
    return task


def send_now(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Publish a task; return False (and log) instead of raising when it cannot be sent.

    Callers rely on a durable record (an outbox row) and a periodic sweep for anything that
    must not be lost, so a failed publish here is only a delay. It never raises: it runs after
    commit, where an exception would turn a request that succeeded into a 500 (and its client
    would retry a create that is already done).
    """
    name = task if isinstance(task, str) else getattr(task, "name", repr(task))
    try:
        resolved = _resolve(task)
    except Exception as exc:
        log.error("cannot publish %s (%s); left for the sweep", name, type(exc).__name__)
        return False
    if broker_marked_down():
        log.warning("broker marked down; %s left for the sweep", name)
        return False
    try:
        resolved.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception as exc:
        _mark_down()
        log.warning("could not publish %s (%s); left for the sweep", name, type(exc).__name__)
        return False
    return True


def enqueue_on_commit(task: Any, *args: Any, using: str | None = None, **kwargs: Any) -> None:
    """Publish the task once the current transaction commits (at once outside one); inside
    `batched()`, together with the block's other hand-overs when it ends."""
    transaction.on_commit(partial(_task_committed, task, args, kwargs), using=using)


# ------------------------------------------------------------------- batched hand-over


@dataclass
class _Pending:
    tasks: list[tuple[Any, tuple, dict]] = field(default_factory=list)
    events: list[tuple[str, dict]] = field(default_factory=list)


_local = threading.local()


def _collecting() -> _Pending | None:
    return getattr(_local, "pending", None)


def _task_committed(task: Any, args: tuple, kwargs: dict) -> None:
    pending = _collecting()
    if pending is None:
        send_now(task, *args, **kwargs)
    else:
        pending.tasks.append((task, args, kwargs))


def event_committed(group: str, event: dict) -> bool:
    """Keep a real-time event for the end of the current `batched()` block: False outside
    one (the caller publishes it now). For core.realtime."""
    pending = _collecting()
    if pending is None:
        return False
    pending.events.append((group, event))
    return True


@contextmanager
def batched() -> Iterator[None]:
    """Send the tasks and events that commits inside the block hand over when it ends.

    What is handed over stays tied to its commit: a hook of a rolled-back transaction or
    savepoint never runs, so it is never collected; a commit of a caller's transaction that
    encloses the block comes after it and hands over at once, as without the block. Nested
    blocks send with the outermost. What was collected is sent even when the block raises
    after a commit (its writes stand); sending never raises.
    """
    if _collecting() is not None:
        yield
        return
    pending = _local.pending = _Pending()
    try:
        yield
    finally:
        _local.pending = None
        if pending.tasks or pending.events:
            _hand_over(pending)


def _hand_over(pending: _Pending) -> None:
    """One pipelined round trip when the broker and the channel layer share the Redis
    server and tasks are published (Celery's producer batch, with the events' PUBLISH
    commands added to its pipeline); otherwise each as `send_now` and `publish_now` would.

    Never raises (it runs after commit). Only a lost connection marks the broker down and
    leaves the tasks to the sweep; any other failure of the batch (a kombu without the
    batch API, an event the layer cannot encode) falls back to sending one by one, so that
    a library's change costs the round trip, not every write's tasks and events.
    """
    from core import realtime

    events = pending.events
    tasks = pending.tasks
    try:
        together = bool(tasks) and _one_redis_for_both(events)
    except Exception as exc:
        log.warning("batched hand-over unavailable (%s); one by one", type(exc).__name__)
        together = False
    if together:
        try:
            tasks, events = _send_together(tasks, events)
        except _connection_errors() as exc:
            _mark_down()
            log.warning(
                "could not publish %s task(s) (%s); left for the sweep",
                len(tasks),
                type(exc).__name__,
            )
            tasks = []  # the events do not depend on the broker: they still go below
        except Exception as exc:
            log.warning(
                "could not batch %s task(s) (%s); sending one by one",
                len(tasks),
                type(exc).__name__,
            )
    for task, args, kwargs in tasks:
        send_now(task, *args, **kwargs)
    for group, event in events:
        realtime.publish_now(group, event)


def _connection_errors() -> tuple[type[BaseException], ...]:
    """The errors of a broker that cannot be reached (the breaker's business)."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (OSError, OperationalError, RedisConnectionError, RedisTimeoutError)


def _one_redis_for_both(events: list[tuple[str, dict]]) -> bool:
    """Whether the tasks can go in one pipeline (a Redis broker, not eager nor marked down)
    with the events (none, or a channel layer on that broker's Redis server)."""
    from celery import current_app

    conf = current_app.conf
    url = conf.broker_url or ""
    if conf.task_always_eager or not url.startswith("redis://") or broker_marked_down():
        return False
    if not events:
        return True
    address = _layer_address()
    return address is not None and _server(address) == _server(url)


def _layer_address() -> str | None:
    from channels.layers import get_channel_layer

    address = getattr(get_channel_layer(), "publish_address", None)
    return address() if callable(address) else None


def _server(url: str) -> tuple[str, str | None, int | None, str | None, str | None]:
    """The Redis server a URL names (its database aside: pub/sub channels ignore it)."""
    parsed = urlparse(url)
    return parsed.scheme, parsed.hostname, parsed.port, parsed.username, parsed.password


def _send_together(
    tasks: list[tuple[Any, tuple, dict]], events: list[tuple[str, dict]]
) -> tuple[list[tuple[Any, tuple, dict]], list[tuple[str, dict]]]:
    """Publish the tasks through one producer batch (kombu's non-transactional Redis
    pipeline) and add the events' PUBLISH commands to the same pipeline; return what is left
    to send one by one (a task that cannot be resolved; the events when the batch exposes
    no pipeline)."""
    from celery import current_app
    from channels.layers import get_channel_layer

    resolved, left = [], []
    for task, args, kwargs in tasks:
        try:
            resolved.append((_resolve(task), args, kwargs))
        except Exception:
            left.append((task, args, kwargs))  # send_now logs it and leaves it for the sweep
    if not resolved:
        return left, events
    layer = get_channel_layer()
    # Each event's PUBLISH arguments before the batch: one the layer cannot encode goes on
    # its own (publish_now logs it) without costing the others.
    published, alone = [], []
    for group, event in events:
        try:
            published.append(layer.publish_args(group, event))
        except Exception:
            alone.append((group, event))
    # Large enough that the batch never flushes early (before the events are added).
    size = max(1000, 10 * len(resolved))
    with current_app.producer_or_acquire() as producer:
        if not callable(getattr(producer, "batch", None)):  # a kombu without the batch API
            return tasks, events
        with producer.batch(size) as batch:
            for task, args, kwargs in resolved:
                task.apply_async(args=args, kwargs=kwargs, retry=False, producer=producer)
            session = getattr(getattr(batch, "state", None), "session", None)
            pipeline = getattr(session, "pipeline", None)
            if pipeline is None or getattr(pipeline, "global_keyprefix", ""):
                return left, events  # the tasks went; the events go one by one
            for arguments in published:
                pipeline.publish(*arguments)
    return left, alone
