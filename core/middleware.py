"""Request context, error answers and caching.

RequestContextMiddleware: a request id on every request and response, an access log without
PII. BadInputMiddleware: a NUL character in the path, the query or a form body is a 400 (no
text column of PostgreSQL can hold one). ApiErrorMiddleware: every error answer under /api/
is in the API's JSON error format, and a lost database connection is a 503 with Retry-After.
NoStoreMiddleware: no caching of answers that carry personal data.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.functional import empty
from django.utils.translation import gettext as _

from core import context, metrics, net
from core.errors import database_unavailable, error_body, is_api_path, status_error_body
from core.jsoninput import NUL_MESSAGE
from core.views import unavailable

access_log = logging.getLogger("welddesk.access")
log = logging.getLogger(__name__)

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# URL keyword arguments whose values are never logged nor audited (tokens, keys, signed links).
SECRET_KWARGS = re.compile(r"token|key|secret|sig|code|uid", re.IGNORECASE)


def is_secret_kwarg(name: str) -> bool:
    """Return True for a URL parameter whose value must reach no log line and no audit row.

    The one rule for both: the access log here, the refusal audit in accounts.permissions.
    """
    return bool(SECRET_KWARGS.search(name))


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
        if is_secret_kwarg(name):
            continue
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            parts.append(f"{name}={value}")
    return " ".join(parts)


class RequestContextMiddleware:
    """Bind a request id and client address, log one access line, count the request.

    Each request also starts in the desk's default language: a WSGI thread keeps the last
    language activated in it (LocaleMiddleware and the user's preferences activate, nothing
    deactivates), so an answer given before LocaleMiddleware runs (a NUL refused by
    BadInputMiddleware) would otherwise speak the previous visitor's language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        translation.deactivate()
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


_FORM_TYPE = "application/x-www-form-urlencoded"
_MULTIPART_TYPE = "multipart/form-data"


def nul_location(request) -> str | None:
    """Where the request carries a NUL character ("path", a parameter name), or None.

    Form fields are checked too, files never: url-encoded ones always (reading them keeps
    `request.body` readable), multipart ones outside /api/ (the CSRF check parses those forms
    anyway; under /api/ the API's parsers check them, core.parsers, and views that read the
    raw body keep it).
    """
    if "\x00" in request.path_info:
        return "path"
    data = [request.GET]
    if request.method == "POST" and (
        request.content_type == _FORM_TYPE
        or (request.content_type == _MULTIPART_TYPE and not is_api_path(request.path_info))
    ):
        data.append(request.POST)
    for params in data:
        for key, values in params.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return key.replace("\x00", "") or "path"
    return None


class BadInputMiddleware:
    """Answer 400 to a NUL character in the path, a query parameter or a form field.

    PostgreSQL refuses NUL in text, so such a value reaching a query used to be a 500.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = nul_location(request)
        if where is None:
            return self.get_response(request)
        message = _("The request contains a null character, which is not allowed.")
        if is_api_path(request.path_info):
            body = error_body(
                code="null_character", message=message, fields={where: [str(NUL_MESSAGE)]}
            )
            return JsonResponse(body, status=400)
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


def _is_json(response) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


class ApiErrorMiddleware:
    """Under /api/, answer every error in the JSON error format; a lost database is a 503.

    DRF views already answer JSON (core.errors.api_exception_handler); this catches the rest:
    Django's 404 of an unknown route, a plain view's 405, the handlers' 400/413/500, a
    middleware's refusal. Headers (Allow, Retry-After, WWW-Authenticate) are kept. With DEBUG
    on, a 5xx keeps Django's debug page.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and is_api_path(request.path_info)
            and not getattr(response, "streaming", False)
            and not _is_json(response)
            and not (settings.DEBUG and response.status_code >= 500)
        ):
            response = _as_json(response)
        return response

    def process_exception(self, request, exception):
        """A view's lost database connection is a 503 with Retry-After, on pages too."""
        if database_unavailable(exception):
            log.warning(
                "database unavailable during %s: %s", route_of(request), type(exception).__name__
            )
            return unavailable(request)
        return None


def _as_json(response):
    rewritten = JsonResponse(status_error_body(response.status_code), status=response.status_code)
    for header, value in response.items():
        if header.lower() not in ("content-type", "content-length"):
            rewritten[header] = value
    rewritten.cookies = response.cookies
    return rewritten


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
