"""POST /api/v1/telephony/events: call events from the phone system (bearer token).

Body: {"events": [{"call_id", "line", "event": started|answered|ended|abandoned, "at": ISO
8601 with offset, "caller": phone number}]}. 200 with counts; 400 for a bad batch (nothing
of it is applied); 401 without the token (TELEPHONY_TOKEN; empty turns the endpoint off).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from core import machine_auth
from core.schema import Error
from intake import services

_EVENT = {
    "call_id": serializers.CharField(min_length=1, max_length=100),
    "line": serializers.RegexField(r"^[A-Za-z0-9-]{1,50}$"),
    "event": serializers.ChoiceField(services.EVENTS),
    "at": serializers.DateTimeField(help_text="ISO 8601 with its offset"),
    "caller": serializers.CharField(max_length=40, required=False, allow_blank=True),
}


class TelephonyEvents(machine_auth.MachineWebhook):
    @extend_schema(
        summary="Call events from the phone system",
        description=(
            "Events are applied to one call per call_id, in any order and any number of "
            "times. A missed call on a line that is down or overloaded gets an SMS and a "
            "callback ticket. The batch is checked first: a bad event refuses it."
        ),
        auth=[{"MachineBearer": []}],
        request=inline_serializer(
            "TelephonyEvents",
            {
                "events": inline_serializer(
                    "TelephonyEvent", _EVENT, many=True, min_length=1, max_length=1000
                )
            },
        ),
        responses={
            200: inline_serializer(
                "TelephonyCounts",
                {name: serializers.IntegerField() for name in ("calls", "sms", "callbacks")},
            ),
            401: Error,
        },
    )
    def post(self, request: Request) -> JsonResponse:
        def receive(payload):
            events = payload.get("events") if isinstance(payload, dict) else None
            with transaction.atomic():
                return services.events_receive(events)

        return self.answer(request, token=settings.TELEPHONY_TOKEN, act=receive)


telephony_events = TelephonyEvents.as_view()
