"""Hand Celery tasks to the broker after the transaction commits, never blocking on an outage."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from typing import Any

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
    """Publish the task once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(send_now, task, *args, **kwargs), using=using)
