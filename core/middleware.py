"""Request context: a request id on every request and response, an access log without PII, and
no caching of answers that carry personal data."""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.utils.cache import add_never_cache_headers
from django.utils.functional import empty

from core import context, metrics, net

access_log = logging.getLogger("welddesk.access")

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# URL keyword arguments whose values are never logged (tokens, keys, signed links).
_SECRET_KWARGS = re.compile(r"token|key|secret|sig|code|uid", re.IGNORECASE)


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def actor_of(request) -> str:
    """Return 'user:<id>' if the request's user was already loaded, without loading it."""
    user = getattr(request, "user", None)
    wrapped = getattr(user, "_wrapped", user)
    if user is None or wrapped is empty:
        return "-"
    ref = getattr(wrapped, "audit_ref", None)  # an API key's principal
    if ref:
        return ref
    return f"user:{user.pk}" if user.is_authenticated else "anonymous"


def route_of(request) -> str:
    """Return the matched URL pattern (no values), or 'unresolved'."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unresolved"
    return "/" + (match.route or "")


def loggable_kwargs(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or not match.kwargs:
        return ""
    parts = []
    for name, value in sorted(match.kwargs.items()):
        if _SECRET_KWARGS.search(name):
            continue
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            parts.append(f"{name}={value}")
    return " ".join(parts)


class RequestContextMiddleware:
    """Bind a request id and client address, log one access line, count the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        net.warn_untrusted_forwarding(request.META)
        token = context.bind(
            context.RequestContext(request_id=request_id, ip=net.client_ip(request.META))
        )
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(request)
            method = request.method if request.method in _METHODS else "OTHER"
            metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
            metrics.HTTP_LATENCY.labels(route).observe(elapsed)
            access_log.info(
                "%s %s %s %.1fms %s %s",
                method,
                route,
                status,
                elapsed * 1000,
                actor_of(request),
                loggable_kwargs(request),
            )
            context.reset(token)


class NoStoreMiddleware:
    """Mark every answer to a signed-in person or an API key `Cache-Control: no-store`.

    Such answers carry personal data (names, tickets, addresses); no browser cache, shared
    proxy or back button should keep them. One rule here instead of a decorator on each view,
    so a new page cannot forget it. A view that chose `public` caching keeps it; answers to
    anonymous visitors (the status page, static files) stay cacheable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        chosen = response.get("Cache-Control", "")
        if "public" in chosen or "no-store" in chosen:  # the view decided
            return response
        if request.META.get("HTTP_AUTHORIZATION") or actor_of(request) not in ("-", "anonymous"):
            add_never_cache_headers(response)
        return response
