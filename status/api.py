"""The alert webhook: POST /api/v1/alerts/alertmanager with `Authorization: Bearer <token>`.

The token comes from the environment (ALERTMANAGER_TOKEN); without one the endpoint refuses
everything. Answers JSON: 200 with counts, 400 for a payload that is not Alertmanager's
version 4, 401 without the right token.
"""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from status import alerts


def _authorised(request: HttpRequest) -> bool:
    expected = settings.ALERTMANAGER_TOKEN
    given = request.headers.get("Authorization", "")
    if not expected or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").encode(), expected.encode())


@csrf_exempt  # a machine caller with a bearer token, no cookies
@require_POST
def alertmanager(request: HttpRequest) -> JsonResponse:
    if not _authorised(request):
        return JsonResponse(
            {"error": {"code": "unauthorised", "message": "A valid bearer token is required."}},
            status=401,
        )
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse(
            {"error": {"code": "bad_json", "message": "The body is not JSON."}}, status=400
        )
    try:
        counts = alerts.receive(payload)
    except ApplicationError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=400)
    return JsonResponse(counts)
