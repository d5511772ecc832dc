"""Serializers of the ticket, unit and fault-code API (tickets.api)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from core import jsoninput
from core.malware import ScanStatus
from equipment import selectors as equipment_selectors
from equipment.models import FaultCode, MachineState, ProductLine, Unit, WarrantyStatus
from tickets.models import (
    MAX_MACHINES,
    Kind,
    Material,
    Priority,
    Production,
    ShieldingGas,
    Ticket,
)
from tickets.services import tickets as ticket_services


class SlaOut(serializers.Serializer):
    policy = serializers.CharField(source="sla_policy_id", allow_null=True)
    first_response_due = serializers.DateTimeField(allow_null=True)
    next_reply_due = serializers.DateTimeField(allow_null=True)
    resolution_due = serializers.DateTimeField(allow_null=True)
    paused = serializers.SerializerMethodField()
    warning = serializers.BooleanField(source="sla_warning")
    breached = serializers.BooleanField(source="sla_breached")
    first_response_met = serializers.BooleanField(allow_null=True)
    resolution_met = serializers.BooleanField(allow_null=True)

    def get_paused(self, ticket: Ticket) -> bool:
        return ticket.sla_paused_at is not None


class TicketOut(serializers.ModelSerializer):
    organisation = serializers.IntegerField(source="organisation_id")
    unit = serializers.CharField(source="unit.serial_number", default=None, allow_null=True)
    queue = serializers.CharField(source="queue.name", default=None, allow_null=True)
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    sla = SlaOut(source="*")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "reference",
            "url",
            "subject",
            "status",
            "priority",
            "kind",
            "channel",
            "organisation",
            "unit",
            "queue",
            "tags",
            "version",
            "created_at",
            "updated_at",
            "resolved_at",
            "closed_at",
            "sla",
        ]

    def get_url(self, ticket: Ticket) -> str:
        return reverse("api-ticket", kwargs={"reference": ticket.reference})


class AttachmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="original_name")
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    scan_status = serializers.ChoiceField(
        choices=ScanStatus.choices,
        help_text="`pending`: held until the virus scanner has checked it (not downloadable yet).",
    )
    url = serializers.SerializerMethodField()

    def get_url(self, attachment) -> str:
        return reverse("tickets:attachment", kwargs={"pk": attachment.pk})


class MessageOut(serializers.Serializer):
    id = serializers.IntegerField()
    from_customer = serializers.BooleanField()
    internal = serializers.BooleanField()
    author = serializers.SerializerMethodField()
    body = serializers.CharField()
    channel = serializers.CharField()
    created_at = serializers.DateTimeField()
    attachments = AttachmentOut(many=True)

    def get_author(self, message) -> str | None:
        # Customers see agents' names; staff see everyone's.
        return message.author.full_name if message.author_id else None


class FaultReportOut(serializers.Serializer):
    production = serializers.ChoiceField([*Production.values, ""])
    machines_affected = serializers.IntegerField(allow_null=True)
    safety_risk = serializers.BooleanField(allow_null=True)
    fault_code = serializers.CharField(source="fault_code.code", default=None, allow_null=True)
    laser_power_w = serializers.IntegerField(allow_null=True)
    pulse_frequency_hz = serializers.DecimalField(10, 2, allow_null=True)
    pulse_width_ms = serializers.DecimalField(8, 3, allow_null=True)
    wire_feed_speed_m_min = serializers.DecimalField(8, 2, allow_null=True)
    shielding_gas = serializers.CharField()
    gas_flow_l_min = serializers.DecimalField(8, 2, allow_null=True)
    material = serializers.CharField()
    thickness_mm = serializers.DecimalField(8, 2, allow_null=True)
    seam_speed_mm_s = serializers.DecimalField(8, 2, allow_null=True)


class TicketDetailOut(TicketOut):
    messages = MessageOut(many=True)
    earlier_messages = serializers.BooleanField(
        help_text="Older messages exist: ask again with ?skip= plus the messages shown."
    )
    fault_report = serializers.SerializerMethodField()

    class Meta(TicketOut.Meta):
        fields = [*TicketOut.Meta.fields, "fault_report", "messages", "earlier_messages"]

    @extend_schema(responses=FaultReportOut(allow_null=True))
    def get_fault_report(self, ticket: Ticket) -> dict | None:
        report = getattr(ticket, "fault_report", None)
        return FaultReportOut(report).data if report is not None else None


class FaultReportIn(serializers.Serializer):
    """The fault report of a new ticket: an object in JSON; in a multipart form, a part holding
    it as JSON (OpenAPI's encoding of an object in multipart) or DRF's `fault_report.<field>`
    parts."""

    def get_value(self, dictionary):
        part = dictionary.get(self.field_name) if html.is_html_input(dictionary) else None
        if isinstance(part, str):
            try:
                return jsoninput.loads(part, empty=empty)
            except jsoninput.JSONInputError:
                return part  # refused by validation: "expected a dictionary"
        return super().get_value(dictionary)

    # The impact: it sets the opening priority by the desk's priority rules (a safety risk is
    # always P1 and its supervisors are told). The more urgent of it and `priority` wins.
    production = serializers.ChoiceField(
        Production.choices,
        required=False,
        allow_blank=True,
        help_text=_("Is production stopped, slowed down (or poorer quality), or not affected?"),
    )
    machines_affected = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_MACHINES,
        help_text=_("How many machines have this fault."),
    )
    safety_risk = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text=_("Whether anyone is at risk (fire, burns, laser light, electricity)."),
    )
    fault_code = serializers.SlugRelatedField(
        slug_field="code", queryset=FaultCode.objects.all(), required=False, allow_null=True
    )
    laser_power_w = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=100_000
    )
    pulse_frequency_hz = serializers.DecimalField(
        10, 2, required=False, allow_null=True, min_value=0
    )
    pulse_width_ms = serializers.DecimalField(8, 3, required=False, allow_null=True, min_value=0)
    wire_feed_speed_m_min = serializers.DecimalField(
        8, 2, required=False, allow_null=True, min_value=0
    )
    shielding_gas = serializers.ChoiceField(ShieldingGas.choices, required=False, allow_blank=True)
    gas_flow_l_min = serializers.DecimalField(8, 2, required=False, allow_null=True, min_value=0)
    material = serializers.ChoiceField(Material.choices, required=False, allow_blank=True)
    thickness_mm = serializers.DecimalField(8, 2, required=False, allow_null=True, min_value=0)
    seam_speed_mm_s = serializers.DecimalField(8, 2, required=False, allow_null=True, min_value=0)


class TicketIn(serializers.Serializer):
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=ticket_services.MAX_BODY)
    kind = serializers.ChoiceField(Kind.choices, default=Kind.FAULT)
    priority = serializers.ChoiceField(Priority.choices, default=Priority.P3)
    unit = serializers.CharField(
        max_length=40, required=False, allow_blank=True, help_text=_("Serial number")
    )
    requester_email = serializers.EmailField(required=False, allow_blank=True)
    organisation = serializers.IntegerField(
        required=False, help_text=_("Staff only: the customer organisation")
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=10
    )
    fault_report = FaultReportIn(required=False, allow_null=True)
    attachments = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=10, write_only=True
    )


class ReplyIn(serializers.Serializer):
    body = serializers.CharField(max_length=ticket_services.MAX_BODY)
    internal = serializers.BooleanField(default=False, help_text=_("Staff only"))
    expected_version = serializers.IntegerField(required=False, min_value=1)
    attachments = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=10, write_only=True
    )


class CloseIn(serializers.Serializer):
    expected_version = serializers.IntegerField(required=False, min_value=1)


class UnitStatusOut(serializers.Serializer):
    """What the machine last said of itself; `unknown` with no times when it never reported."""

    state = serializers.ChoiceField([*MachineState.values, "unknown"])
    since = serializers.DateTimeField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)
    last_alarm_at = serializers.DateTimeField(allow_null=True)
    last_alarm_code = serializers.CharField()
    silent_since = serializers.DateTimeField(
        allow_null=True, help_text="Set while the desk holds the machine silent (no reports)."
    )


def unit_status_data(unit: Unit) -> dict:
    status = equipment_selectors.unit_state(unit)
    if status is None:
        return {
            "state": "unknown",
            "since": None,
            "last_seen_at": None,
            "last_alarm_at": None,
            "last_alarm_code": "",
            "silent_since": None,
        }
    return UnitStatusOut(
        {
            "state": status.state,
            "since": status.state_since,
            "last_seen_at": status.last_seen_at,
            "last_alarm_at": status.last_alarm_at,
            "last_alarm_code": status.last_alarm_code,
            "silent_since": status.silent_since,
        }
    ).data


class AlarmOut(serializers.Serializer):
    alarm_id = serializers.CharField()
    code = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    laser_power_w = serializers.FloatField(allow_null=True)
    temperature_c = serializers.FloatField(allow_null=True)
    wire_feed_m_min = serializers.FloatField(allow_null=True)
    gas_flow_l_min = serializers.FloatField(allow_null=True)
    extra = serializers.DictField()


class UnitOut(serializers.ModelSerializer):
    model = serializers.CharField(source="machine_model.name")
    # Chinese names beside the English ones, as fault codes give title_en and title_zh;
    # blank when none was entered.
    model_zh = serializers.CharField(source="machine_model.name_zh")
    model_code = serializers.CharField(source="machine_model.code")
    product_line = serializers.ChoiceField(ProductLine.choices, source="machine_model.product_line")
    organisation = serializers.IntegerField(source="organisation_id")
    warranty = serializers.ChoiceField(WarrantyStatus.choices)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Unit
        fields = [
            "serial_number",
            "model",
            "model_zh",
            "model_code",
            "product_line",
            "organisation",
            "site",
            "site_zh",
            "installed_on",
            "firmware",
            "warranty_ends_on",
            "warranty",
            "contract_tier",
            "status",
        ]

    @extend_schema_field(UnitStatusOut)
    def get_status(self, unit: Unit) -> dict:
        return unit_status_data(unit)


class TicketBriefOut(serializers.Serializer):
    reference = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class UnitDetailOut(UnitOut):
    open_tickets = serializers.SerializerMethodField()
    last_alarms = serializers.SerializerMethodField()

    class Meta(UnitOut.Meta):
        fields = [*UnitOut.Meta.fields, "last_alarms", "open_tickets"]

    @extend_schema_field(AlarmOut(many=True))
    def get_last_alarms(self, unit: Unit) -> list:
        return AlarmOut(self.context["last_alarms"], many=True).data

    @extend_schema(responses=TicketBriefOut(many=True))
    def get_open_tickets(self, unit: Unit) -> list:
        return TicketBriefOut(self.context["open_tickets"], many=True).data


class FaultCodeOut(serializers.ModelSerializer):
    class Meta:
        model = FaultCode
        fields = [
            "code",
            "title_en",
            "title_zh",
            "severity",
            "first_checks_en",
            "first_checks_zh",
            "product_lines",
        ]
