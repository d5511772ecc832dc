"""The alert webhook: POST /api/v1/alerts/alertmanager with `Authorization: Bearer <token>`.

The token comes from the environment (ALERTMANAGER_TOKEN); without one the endpoint refuses
everything. Answers JSON: 200 with counts, 400 for a payload that is not Alertmanager's
version 4, 401 without the right token.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core import machine_auth
from core.errors import ApplicationError
from status import alerts


@csrf_exempt  # a machine caller with a bearer token, no cookies
@require_POST
def alertmanager(request: HttpRequest) -> JsonResponse:
    if not machine_auth.bearer_ok(request, settings.ALERTMANAGER_TOKEN):
        return machine_auth.refused()
    payload, bad = machine_auth.json_body(request)
    if bad is not None:
        return bad
    try:
        counts = alerts.receive(payload)
    except ApplicationError as exc:
        return machine_auth.error(exc.code, exc.message, 400)
    return JsonResponse(counts)
