"""Prometheus metrics shared by the apps, and the registry of scrape-time collectors."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import REGISTRY, Metric
from prometheus_client.registry import Collector

HTTP_REQUESTS = Counter(
    "welddesk_http_requests_total",
    "HTTP requests served, by route pattern, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "welddesk_http_request_duration_seconds",
    "Time to serve an HTTP request, by route pattern.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REFUSALS = Counter(
    "welddesk_refusals_total",
    "403 answers, by caller (anonymous: no user and no API key; known) and whether an "
    "access.denied audit event was written (anonymous ones only up to a rate).",
    ["caller", "audited"],
)

_collectors: dict[str, Callable[[], Iterable[Metric]]] = {}


class _ScrapeTimeCollector(Collector):
    """Calls the registered functions at each scrape (e.g. outbox backlog from the database)."""

    def collect(self) -> Iterable[Metric]:
        for name in sorted(_collectors):
            try:
                yield from _collectors[name]()
            except Exception:
                import logging

                logging.getLogger(__name__).exception("metrics collector %s failed", name)


def register_collector(name: str, func: Callable[[], Iterable[Metric]]) -> None:
    """Register a function that yields metrics at scrape time (idempotent per name)."""
    _collectors[name] = func


REGISTRY.register(_ScrapeTimeCollector())
