"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from core import health, net
from core.startup import KeyCheckUnavailable, verify_encryption_keys

log = logging.getLogger(__name__)

_migrations_applied = False
_lock = threading.Lock()


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Touches no dependency."""
    return JsonResponse({"status": "ok"})


def _pending_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness of this web process, for the load balancer.

    503 (take it out) when the database is unreachable, migrations are pending or the
    encryption keys do not fit: it cannot serve. 200 otherwise; with Redis unreachable the
    status is "degraded" (the process still serves pages and the API; tasks wait in the
    outbox), reported here and as welddesk_redis_up in /metrics (docs/operations.md).
    """
    global _migrations_applied
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as exc:
        log.warning("readyz: database unreachable (%s)", type(exc).__name__)
        return _unavailable({"database": "unreachable"})
    if not _migrations_applied:
        try:
            pending = _pending_migrations()
        except DatabaseError:
            pending = -1
        if pending:
            checks["migrations"] = "pending" if pending > 0 else "unknown"
            return _unavailable(checks)
        with _lock:
            _migrations_applied = True  # applied migrations stay applied for this process
    checks["migrations"] = "ok"
    try:
        verify_encryption_keys()
        checks["encryption_keys"] = "ok"
    except KeyCheckUnavailable:
        checks["database"] = "unreachable"
        return _unavailable(checks)
    except Exception as exc:
        log.error("readyz: encryption key check failed (%s)", type(exc).__name__)
        checks["encryption_keys"] = "mismatch"
        return _unavailable(checks)
    checks["redis"] = health.redis_status()
    status = "degraded" if checks["redis"] == "unreachable" else "ok"
    return JsonResponse({"status": status, "checks": checks})


def _unavailable(checks: dict[str, str]) -> JsonResponse:
    return JsonResponse({"status": "unavailable", "checks": checks}, status=503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, only for METRICS_ALLOWED_NETWORKS (404 to everyone else)."""
    if not net.in_networks(net.client_ip(request.META), settings.METRICS_ALLOWED_NETWORKS):
        return HttpResponse("Not found", status=404, content_type="text/plain")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def reset_readiness_cache() -> None:
    global _migrations_applied
    with _lock:
        _migrations_applied = False


def home(request: HttpRequest) -> HttpResponse:
    """The front page: the portal's overview for customers, the way in for staff."""
    from portal import views as portal_views

    if not request.user.is_authenticated:
        return redirect("accounts:login")
    if request.user.is_staff:
        return render(request, "home.html", {"otp_enabled": request.user.is_verified()})
    return portal_views.home(request)
