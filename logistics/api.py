"""The carriers' push webhook: Kuaidi100 posts tracking updates here (signed with the salt).

POST /api/v1/logistics/kuaidi100/push with form fields `param` (JSON) and `sign`. Kuaidi100
expects {"result": true, "returnCode": "200"} when taken, and retries otherwise.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from logistics import services

MAX_BODY = 256 * 1024


def _answer(ok: bool, code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(
        {"result": ok, "returnCode": code, "message": message},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


@csrf_exempt  # a machine caller, authenticated by the signature of its body
@require_POST
def kuaidi100_push(request: HttpRequest) -> JsonResponse:
    if len(request.body) > MAX_BODY:
        return _answer(False, "413", "too large", 413)
    try:
        services.kuaidi100_push(
            param=request.POST.get("param", ""), sign=request.POST.get("sign", "")
        )
    except services.PushRefused as exc:
        reason = str(exc)
        status = 403 if reason in ("bad signature", "push not configured") else 400
        if reason == "unknown shipment":
            status = 404
        return _answer(False, str(status), reason, status)
    return _answer(True, "200", "成功", 200)
