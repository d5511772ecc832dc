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

from core import net
from core.startup import verify_encryption_keys

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
    """Readiness: database reachable, migrations applied and encryption keys fit; else 503."""
    global _migrations_applied
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as exc:
        log.warning("readyz: database unreachable (%s)", type(exc).__name__)
        return JsonResponse(
            {"status": "unavailable", "checks": {"database": "unreachable"}}, status=503
        )
    if not _migrations_applied:
        try:
            pending = _pending_migrations()
        except DatabaseError:
            pending = -1
        if pending:
            checks["migrations"] = "pending" if pending > 0 else "unknown"
            return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
        with _lock:
            _migrations_applied = True  # applied migrations stay applied for this process
    checks["migrations"] = "ok"
    try:
        verify_encryption_keys()
        checks["encryption_keys"] = "ok"
    except Exception as exc:
        log.error("readyz: encryption key check failed (%s)", type(exc).__name__)
        checks["encryption_keys"] = "mismatch"
        return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
    return JsonResponse({"status": "ok", "checks": checks})


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
