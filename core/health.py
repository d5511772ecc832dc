"""Is Redis there? For /readyz (degraded, not unready) and /metrics (a gauge, and the depth
of the Celery queues it brokers).

Redis carries the cache, the channel layer and (by default) the Celery broker. Without it a
web process still serves every page and API call: tasks wait in the outbox, throttles let
requests through, chat falls back to reloading. So a Redis outage is reported, not used to
take web processes out of the load balancer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 0.5  # a probe must answer well within a load balancer's health-check timeout

_clients: dict[str, object] = {}
_lock = threading.Lock()


def _client(url: str):
    """One client (and connection pool) per URL and process, with short timeouts."""
    import redis

    with _lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=PING_TIMEOUT_S,
                socket_timeout=PING_TIMEOUT_S,
                retry_on_timeout=False,
            )
            _clients[url] = client
        return client


def redis_status() -> str:
    """Return "ok", "unreachable", or "not configured" (no REDIS_URL: embedded defaults)."""
    url = settings.REDIS_URL
    if not url:
        return "not configured"
    try:
        _client(url).ping()
    except Exception as exc:
        log.warning("redis unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"


def dependency_metrics() -> Iterable[Metric]:
    """Yield welddesk_redis_up: 1 when Redis answers a ping, 0 when not (absent without
    REDIS_URL)."""
    status = redis_status()
    if status == "not configured":
        return
    gauge = GaugeMetricFamily(
        "welddesk_redis_up",
        "1 if Redis (cache, channel layer, broker) answers a ping from this process, else 0.",
    )
    gauge.add_metric([], 1.0 if status == "ok" else 0.0)
    yield gauge


# kombu's Redis transport keeps a queue as one list per priority step: the queue's own name for
# priority 0, "<queue>\x06\x16<step>" for the others (kombu.transport.redis.Channel._q_for_pri).
_KOMBU_PRIORITY_SEP = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)


def celery_queues() -> list[str]:
    """The queues the desk's tasks are sent to: the default one and those of the task routes."""
    queues = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")}
    for route in dict(getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        if isinstance(route, dict) and route.get("queue"):
            queues.add(route["queue"])
    return sorted(queues)


def celery_metrics() -> Iterable[Metric]:
    """Yield welddesk_celery_queue_length{queue}: messages waiting in the broker for a worker.

    Read from a Redis broker only (the embedded defaults run tasks eagerly, with no queue);
    nothing when Redis does not answer, which welddesk_redis_up already reports. Tasks a
    worker has taken but not finished are not counted (they are no longer in the list).
    """
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return
    client = _client(url)
    gauge = GaugeMetricFamily(
        "welddesk_celery_queue_length",
        "Celery messages waiting in the broker for a worker, by queue.",
        labels=["queue"],
    )
    try:
        for queue in celery_queues():
            keys = [
                queue if step == 0 else f"{queue}{_KOMBU_PRIORITY_SEP}{step}"
                for step in _KOMBU_PRIORITY_STEPS
            ]
            gauge.add_metric([queue], sum(int(client.llen(key)) for key in keys))
    except Exception as exc:
        log.warning("celery queue length unreadable (%s)", type(exc).__name__)
        return
    yield gauge
