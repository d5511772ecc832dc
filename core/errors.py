"""One application-error type and the JSON error shape every API answer uses.

Every error of the API, whoever raises it (a service, DRF, Django, a middleware, the server
error handlers), answers `{"error": {"code", "message", "fields"?}}`:
`api_exception_handler` renders DRF views' exceptions, `core.middleware.ApiErrorMiddleware`
rewrites any other error answer under /api/, and `core.views` are the server's error pages.
A database that is gone (a killed connection, a failover) is a 503 with Retry-After, not a 500.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import (
    BadRequest,
    ObjectDoesNotExist,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf_exceptions
from rest_framework import status as http
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

# Seconds a client should wait before retrying after a 503 (a lost database connection is
# back within a health check; a failover takes a few seconds).
RETRY_AFTER_SECONDS = 5


class LinkNotValid(BadRequest):
    """A page's own link, altered (a conversation's ?skip=): a 400 page that says why, in the
    reader's language (core.views.bad_request). Django's own BadRequests keep its bare page."""


class ApplicationError(Exception):
    """A refused business operation; its message is safe to show to the user."""

    status_code = http.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.fields = fields or {}


class NotFound(ApplicationError):
    status_code = http.HTTP_404_NOT_FOUND
    code = "not_found"


class Conflict(ApplicationError):
    status_code = http.HTTP_409_CONFLICT
    code = "conflict"


class Forbidden(ApplicationError):
    status_code = http.HTTP_403_FORBIDDEN
    code = "forbidden"


def error_body(*, code: str, message: str, fields: dict[str, Any] | None = None) -> dict:
    body: dict[str, Any] = {"code": code, "message": str(message)}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


def database_unavailable(exc: BaseException | None) -> bool:
    """True for a lost or refused database connection (retrying later may succeed).

    psycopg reports a connection killed under a request as OperationalError, and every later
    use of it in the same request as InterfaceError. DataError, IntegrityError and the like
    are the request's own fault and stay errors.
    """
    return isinstance(exc, OperationalError | InterfaceError)


# The message of an error answer that carries no message of its own, per status.
_STATUS_MESSAGES = {
    400: _("The request is not valid."),
    401: _("Authentication credentials were not provided or are not valid."),
    403: _("You do not have permission to perform this action."),
    404: _("Not found."),
    405: _("This method is not allowed here."),
    406: _("The requested response format is not available."),
    413: _("The request is too large."),
    415: _("This content type is not supported."),
    429: _("Too many requests. Retry later."),
    500: _("Something went wrong on our side. Try again later."),
    503: _("The service is unavailable for a moment. Retry later."),
}
_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}


def status_error_body(status: int) -> dict:
    """The error body of an answer known only by its status (e.g. Django's 404 or 405)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code = _STATUS_CODES.get(status) or phrase.lower().replace(" ", "_").replace("-", "_")
    return error_body(code=code, message=_STATUS_MESSAGES.get(status, phrase))


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Render every error as {"error": {"code", "message", "fields"?}}."""
    if database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return Response(
            status_error_body(503),
            status=http.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(status_error_body(413), status=http.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        return Response(status_error_body(400), status=http.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(code=exc.code, message=exc.message, fields=exc.fields),
            status=exc.status_code,
        )
    if isinstance(exc, DjangoValidationError):
        fields = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        return Response(
            error_body(code="invalid", message=_("The request is not valid."), fields=fields),
            status=http.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = error_body(
            code="invalid",
            message=_("The request is not valid."),
            fields=_flatten(exc.detail)
            if isinstance(exc.detail, dict)
            else {"non_field_errors": _flatten(exc.detail)},
        )
    else:
        detail = getattr(exc, "detail", str(exc))
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(code=str(code), message=str(detail))
    return response
