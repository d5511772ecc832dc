"""Endpoints called by machines (Alertmanager, the phone system, a courier's push).

They are DRF views (`MachineWebhook`) so that they are in the OpenAPI schema and parse and
fail like the rest of the API, but they take no session, API key or throttle: the caller
proves itself with a shared bearer token (`bearer_ok`) or a signature of its body.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework import negotiation, permissions, renderers
from rest_framework.views import APIView

from core import jsoninput, parsers
from core.errors import ApplicationError


class _AnyAccept(negotiation.DefaultContentNegotiation):
    """Answer JSON whatever the caller's Accept header says (machines send all sorts)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class MachineWebhook(APIView):
    """Base of the machine endpoints: no session, no API key, no throttle; JSON answers."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []
    renderer_classes = [renderers.JSONRenderer]
    parser_classes = [parsers.JSONParser]
    content_negotiation_class = _AnyAccept

    def answer(
        self, request: HttpRequest, *, token: str, act: Callable[[Any], dict]
    ) -> JsonResponse:
        """The bearer-token endpoints' one way: check the token (401), read the JSON body
        (400 when it is not JSON, too deep or holds a NUL), `act` on it and answer what it
        returns; an ApplicationError of `act` is a 400 with its code and message."""
        if not bearer_ok(request, token):
            return refused()
        payload, bad = json_body(request)
        if bad is not None:
            return bad
        try:
            return JsonResponse(act(payload))
        except ApplicationError as exc:
            return error(exc.code, exc.message, 400)


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
