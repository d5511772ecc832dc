"""The floor endpoint: no authentication, no throttle, one INSERT, 201.

It runs in the same server process and behind the same middleware as the desk's API, so the
ratio of ticket creation to it is what the desk's own work costs on top of Django and DRF.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.floor.models import FloorRow


class FloorApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    class InputSerializer(serializers.Serializer):
        subject = serializers.CharField(max_length=200)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = FloorRow.objects.create(note=data.validated_data["subject"])
        return Response({"id": row.pk}, status=201)
