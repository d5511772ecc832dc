"""POST /api/v1/units/{serial}/alarms: a machine's alarms, in batches (issue 23, point 3).

Authenticated by an API key of the unit's organisation with the `alarms` scope (such a key
may do nothing else, and no other key may post alarms: accounts.api_auth.ApiKeyScope). A
serial of another organisation is a 404, as an unknown one. See docs/alarms.md for how a
gateway posts, and intake.alarms.services for what the desk does with a batch.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import parsers
from equipment import selectors as equipment_selectors
from equipment.models import MachineState, Severity
from intake.alarms import services

_ALARM = {
    "alarm_id": serializers.CharField(
        max_length=64, help_text="The machine's own id of the alarm: a resend is stored once."
    ),
    "code": serializers.RegexField(r"^[A-Za-z0-9._-]{1,20}$", help_text="e.g. E-201"),
    "severity": serializers.ChoiceField(Severity.values),
    "occurred_at": serializers.DateTimeField(help_text="The machine's clock, with its offset"),
    "message": serializers.CharField(max_length=300, required=False),
    "state": serializers.ChoiceField(
        MachineState.values,
        required=False,
        help_text="The machine's state after it; by default critical stops, major warns.",
    ),
    "laser_power_w": serializers.FloatField(required=False, min_value=0, max_value=100_000),
    "temperature_c": serializers.FloatField(required=False, min_value=-50, max_value=1_000),
    "wire_feed_m_min": serializers.FloatField(required=False, min_value=0, max_value=100),
    "gas_flow_l_min": serializers.FloatField(required=False, min_value=0, max_value=500),
    "extra": serializers.DictField(
        required=False, help_text="Up to 20 more values: number, true/false or short text."
    ),
}

EXAMPLE = {
    "alarms": [
        {
            "alarm_id": "LW3000-0042-000913",
            "code": "E-201",
            "severity": "critical",
            "occurred_at": "2026-12-08T09:14:03+08:00",
            "message": "Chiller flow low",
            "laser_power_w": 2950,
            "temperature_c": 41.5,
            "extra": {"chiller_flow_l_min": 3.1},
        }
    ]
}


class UnitAlarmsApi(APIView):
    api_scope = "alarms"  # accounts.api_auth.ApiKeyScope: alarms keys only
    parser_classes = [parsers.JSONParser]

    @extend_schema(
        summary="Report a machine's alarms",
        # Which key may call it, for partners and for the walk of every JSON operation.
        extensions={"x-api-key-scope": "alarms"},
        description=(
            "Up to 100 alarms of one machine, and optionally its state (`running`, "
            "`warning`, `stopped`; a batch with only a state is a heartbeat). Idempotent per "
            "(serial, alarm_id): a batch sent again stores nothing twice. A bad alarm refuses "
            "the whole batch (400, naming it). The supervisors' alarm rules decide which "
            "alarms open a fault ticket; repeats of a code within the rule's window join the "
            "ticket still open for it."
        ),
        request=inline_serializer(
            "AlarmBatch",
            {
                "alarms": inline_serializer("AlarmIn", _ALARM, many=True, max_length=100),
                "state": serializers.ChoiceField(MachineState.values, required=False),
            },
        ),
        responses={
            200: inline_serializer(
                "AlarmsReceived",
                {
                    "accepted": serializers.IntegerField(),
                    "duplicates": serializers.IntegerField(),
                    "opened": serializers.ListField(child=serializers.CharField()),
                    "joined": serializers.IntegerField(),
                    "state": serializers.CharField(),
                },
            )
        },
        examples=[
            OpenApiExample("One critical alarm", value=EXAMPLE, request_only=True),
            OpenApiExample(
                "A heartbeat", value={"alarms": [], "state": "running"}, request_only=True
            ),
            OpenApiExample(
                "Received",
                value={
                    "accepted": 1,
                    "duplicates": 0,
                    "opened": ["WD-2026-004211"],
                    "joined": 0,
                    "state": "stopped",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, serial_number: str) -> Response:
        unit = equipment_selectors.unit_get(user=request.user, serial_number=serial_number)
        received = services.alarms_receive(unit=unit, payload=request.data, actor=request.user)
        return Response(
            {
                "accepted": received.accepted,
                "duplicates": received.duplicates,
                "opened": received.opened,
                "joined": len(received.joined),
                "state": received.state,
            }
        )


class UnitAlarmsSlashApi(UnitAlarmsApi):
    """The same with the trailing slash the other unit URLs have; one entry in the schema."""

    schema = None


unit_alarms = UnitAlarmsApi.as_view()
unit_alarms_slash = UnitAlarmsSlashApi.as_view()
