"""The floor endpoints: one INSERT and 201, with and without the desk's API-key authentication.

They run in the same server process and behind the same middleware as the desk's API, so the
ratio of ticket creation to them is what the desk's own work costs on top of Django and DRF.
`FloorApi` has no authentication, no throttle; `TokenFloorApi` authenticates the caller's API
key (`Authorization: Api-Key ...`) and throttles it as the ticket API does, then inserts one
row: the floor of an authenticated insert, which is what ticket creation is compared with.
`AlarmsFloorApi` is the same for a machine's batch of alarms (bench/alarms.py).
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import ApiKeyAuthentication, ApiKeyScope, PerCallerThrottle
from bench.floor.models import FloorRow
from core import parsers


class FloorIn(serializers.Serializer):
    subject = serializers.CharField(max_length=200)


class FloorApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def post(self, request):
        data = FloorIn(data=request.data)
        data.is_valid(raise_exception=True)
        row = FloorRow.objects.create(note=data.validated_data["subject"])
        return Response({"id": row.pk}, status=201)


class TokenFloorApi(FloorApi):
    """The floor with the ticket API's authentication, scope check and throttle."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated, ApiKeyScope]
    throttle_classes = [PerCallerThrottle]


class AlarmsFloorApi(TokenFloorApi):
    """The token floor of a machine's batch: the alarms endpoint's URL shape, key scope and
    JSON parser, then one bulk insert of a row per alarm and its count back.

    What `POST /api/v1/units/{serial}/alarms` costs above it is the desk's own work: the unit
    looked up in the key's organisation, each alarm checked, the status row locked, the
    alarms stored once, the rules and the tickets they open, the audit event."""

    api_scope = "alarms"  # accounts.api_auth.ApiKeyScope: the alarms key the machines hold
    parser_classes = [parsers.JSONParser]

    def post(self, request, serial_number: str):
        alarms = request.data.get("alarms") if isinstance(request.data, dict) else None
        if not isinstance(alarms, list) or not all(isinstance(a, dict) for a in alarms):
            return Response({"alarms": ["A list of alarm objects is expected."]}, status=400)
        rows = FloorRow.objects.bulk_create(
            FloorRow(note=str(alarm.get("alarm_id", ""))[:200]) for alarm in alarms
        )
        return Response({"accepted": len(rows)})
