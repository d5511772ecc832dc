"""The alert webhook: POST /api/v1/alerts/alertmanager with `Authorization: Bearer <token>`.

The token comes from the environment (ALERTMANAGER_TOKEN); without one the endpoint refuses
everything. Answers JSON: 200 with counts, 400 for a payload that is not Alertmanager's
version 4, 401 without the right token.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from core import machine_auth
from core.schema import Error
from status import alerts

_ALERT = {
    "status": serializers.ChoiceField(["firing", "resolved"]),
    "labels": serializers.DictField(child=serializers.CharField(allow_blank=True)),
    "annotations": serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False
    ),
    "startsAt": serializers.DateTimeField(),
    "endsAt": serializers.DateTimeField(required=False),
    "fingerprint": serializers.CharField(min_length=1, max_length=64),
}


class AlertmanagerWebhook(machine_auth.MachineWebhook):
    @extend_schema(
        summary="Prometheus Alertmanager's webhook (version 4): opens and resolves incidents",
        description=(
            "Alerts with the label `welddesk_component` open an incident on that status "
            "component while firing and resolve it when resolved; others are counted as "
            "ignored. The batch is checked first: a bad alert refuses it."
        ),
        auth=[{"MachineBearer": []}],
        request=inline_serializer(
            "AlertmanagerWebhook",
            {
                "version": serializers.ChoiceField(["4"]),
                "alerts": inline_serializer(
                    "AlertmanagerAlert",
                    _ALERT,
                    many=True,
                    min_length=1,
                    max_length=alerts.MAX_ALERTS,
                ),
            },
        ),
        responses={
            200: inline_serializer(
                "AlertmanagerCounts",
                {
                    name: serializers.IntegerField()
                    for name in ("opened", "updated", "resolved", "unchanged", "ignored")
                },
            ),
            401: Error,
        },
    )
    def post(self, request: Request) -> JsonResponse:
        return self.answer(request, token=settings.ALERTMANAGER_TOKEN, act=alerts.receive)


alertmanager = AlertmanagerWebhook.as_view()
