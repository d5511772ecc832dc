"""Endpoints called by machines (Alertmanager, the phone system) with a shared bearer token."""

from __future__ import annotations

import hmac
import json
from typing import Any

from django.http import HttpRequest, JsonResponse


def bearer_ok(request: HttpRequest, expected: str) -> bool:
    """True if the request carries `Authorization: Bearer <expected>`; never with no token set.
    Compared in constant time."""
    given = request.headers.get("Authorization", "")
    if not expected or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").encode(), expected.encode())


def error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def refused() -> JsonResponse:
    return error("unauthorised", "A valid bearer token is required.", 401)


def json_body(request: HttpRequest) -> tuple[Any, JsonResponse | None]:
    """The request's JSON, or the 400 to answer."""
    try:
        return json.loads(request.body or b"null"), None
    except (ValueError, UnicodeDecodeError):
        return None, error("bad_json", "The body is not JSON.", 400)
