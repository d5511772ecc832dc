"""The floor endpoints: one INSERT and 201, with and without the desk's API-key authentication.

They run in the same server process and behind the same middleware as the desk's API, so the
ratio of ticket creation to them is what the desk's own work costs on top of Django and DRF.
`FloorApi` has no authentication, no throttle; `TokenFloorApi` authenticates the caller's API
key (`Authorization: Api-Key ...`) and throttles it as the ticket API does, then inserts one
row: the floor of an authenticated insert, which is what ticket creation is compared with.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_auth import ApiKeyAuthentication, ApiKeyScope, PerCallerThrottle
from bench.floor.models import FloorRow


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
