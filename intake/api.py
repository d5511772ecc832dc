"""POST /api/v1/telephony/events: call events from the phone system (bearer token).

Body: {"events": [{"call_id", "line", "event": started|answered|ended|abandoned, "at": ISO
8601 with offset, "caller": phone number}]}. 200 with counts; 400 for a bad batch (nothing
of it is applied); 401 without the token (TELEPHONY_TOKEN; empty turns the endpoint off).
"""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from intake import services


def _authorised(request: HttpRequest) -> bool:
    expected = settings.TELEPHONY_TOKEN
    given = request.headers.get("Authorization", "")
    if not expected or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").encode(), expected.encode())


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt  # a machine caller with a bearer token, no cookies
@require_POST
def telephony_events(request: HttpRequest) -> JsonResponse:
    if not _authorised(request):
        return _error("unauthorised", "A valid bearer token is required.", 401)
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return _error("bad_json", "The body is not JSON.", 400)
    events = payload.get("events") if isinstance(payload, dict) else None
    try:
        with transaction.atomic():
            counts = services.events_receive(events)
    except ApplicationError as exc:
        return _error(exc.code, exc.message, 400)
    return JsonResponse(counts)
