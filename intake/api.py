"""POST /api/v1/telephony/events: call events from the phone system (bearer token).

Body: {"events": [{"call_id", "line", "event": started|answered|ended|abandoned, "at": ISO
8601 with offset, "caller": phone number}]}. 200 with counts; 400 for a bad batch (nothing
of it is applied); 401 without the token (TELEPHONY_TOKEN; empty turns the endpoint off).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core import machine_auth
from core.errors import ApplicationError
from intake import services


@csrf_exempt  # a machine caller with a bearer token, no cookies
@require_POST
def telephony_events(request: HttpRequest) -> JsonResponse:
    if not machine_auth.bearer_ok(request, settings.TELEPHONY_TOKEN):
        return machine_auth.refused()
    payload, bad = machine_auth.json_body(request)
    if bad is not None:
        return bad
    events = payload.get("events") if isinstance(payload, dict) else None
    try:
        with transaction.atomic():
            counts = services.events_receive(events)
    except ApplicationError as exc:
        return machine_auth.error(exc.code, exc.message, 400)
    return JsonResponse(counts)
