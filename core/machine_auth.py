"""Endpoints called by machines (Alertmanager, the phone system) with a shared bearer token."""

from __future__ import annotations

import hmac
from typing import Any

from django.http import HttpRequest, JsonResponse

from core import jsoninput


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
    """The request's JSON, or the 400 to answer (not JSON, nested too deep, a NUL in it)."""
    try:
        return jsoninput.loads(request.body), None
    except jsoninput.JSONInputError as exc:
        response = error(exc.code, str(exc.message), 400)
        return None, response
