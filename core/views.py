"""The server's error answers (handler400/handler500) and the 503 of a lost database.

Under /api/ they answer in the API's JSON error format; elsewhere with a short page.
"""

from __future__ import annotations

import logging
import sys

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import escape
from django.views import defaults

from core.errors import (
    RETRY_AFTER_SECONDS,
    LinkNotValid,
    database_unavailable,
    is_api_path,
    status_error_body,
)

log = logging.getLogger(__name__)


def error_response(request: HttpRequest, status: int) -> HttpResponse:
    """A bare error answer: JSON under /api/, else a minimal page with the message."""
    body = status_error_body(status)
    if is_api_path(request.path_info):
        return JsonResponse(body, status=status)
    message = escape(body["error"]["message"])
    return HttpResponse(
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{status}</title></head>'
        f"<body><h1>{message}</h1></body></html>\n",
        status=status,
        content_type="text/html; charset=utf-8",
    )


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the database is gone for the moment (killed connection, failover)."""
    response = error_response(request, 503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413, other refusals 400."""
    if isinstance(exception, RequestDataTooBig):
        return error_response(request, 413)
    if is_api_path(request.path_info):
        return error_response(request, 400)
    if isinstance(exception, LinkNotValid):
        # A refusal the desk raised itself (a malformed link of its own pages): the page
        # says which, in the reader's language. Everything else (a forged Host, a broken
        # cookie, Django's own refusals in English) keeps Django's bare answer, which reads
        # nothing from the request.
        return render(request, "400.html", {"message": str(exception)}, status=400)
    return defaults.bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a lost database is a 503 with Retry-After; under /api/ the answer is JSON.

    Django calls it while handling the exception, so sys.exc_info() names it; this also
    covers exceptions raised in a middleware, which no process_exception sees.
    """
    if database_unavailable(sys.exc_info()[1]):
        return unavailable(request)
    if is_api_path(request.path_info):
        return error_response(request, 500)
    return defaults.server_error(request)
