"""The carriers' push webhook: Kuaidi100 posts tracking updates here (signed with the salt).

POST /api/v1/logistics/kuaidi100/push with form fields `param` (JSON) and `sign`. Kuaidi100
expects {"result": true, "returnCode": "200"} when taken, and retries otherwise.
"""

from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request

from core import machine_auth, parsers
from core.schema import Error
from logistics import services

MAX_BODY = 256 * 1024

_Answer = inline_serializer(
    "Kuaidi100Answer",
    {
        "result": serializers.BooleanField(),
        "returnCode": serializers.CharField(),
        "message": serializers.CharField(),
    },
)
# A refusal before the view (a NUL in a field, a body over the limit) is in the API's format.
_Refused = PolymorphicProxySerializer(
    "Kuaidi100Refusal", serializers=[_Answer, Error], resource_type_field_name=None
)


def _answer(ok: bool, code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(
        {"result": ok, "returnCode": code, "message": message},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


class Kuaidi100Push(machine_auth.MachineWebhook):
    parser_classes = [parsers.FormParser, parsers.MultiPartParser]

    @extend_schema(
        summary="Kuaidi100 (快递100) tracking push, signed with KUAIDI100_SALT",
        description=(
            "Form fields `param` (Kuaidi100's JSON) and `sign` (MD5 of param + salt, "
            "upper case). Answers in Kuaidi100's format; it retries until it gets "
            '`{"result": true, "returnCode": "200"}`.'
        ),
        auth=[],
        request=inline_serializer(
            "Kuaidi100Push", {"param": serializers.CharField(), "sign": serializers.CharField()}
        ),
        responses={
            200: _Answer,
            400: OpenApiResponse(_Refused, description="Unreadable push"),
            403: OpenApiResponse(_Answer, description="Bad signature, or pushes not configured"),
            404: OpenApiResponse(_Answer, description="No shipment with this tracking number"),
            413: OpenApiResponse(_Refused, description="Body too large"),
        },
    )
    def post(self, request: Request) -> JsonResponse:
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


kuaidi100_push = Kuaidi100Push.as_view()
