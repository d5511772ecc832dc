"""REST API of tickets, units and fault codes (/api/v1/), for the portal and partner systems.

Callers are customers signed in to the portal (session), partner systems with an API key of
their organisation, or staff (session, scoped to their regions). Every read goes through the
scoped selectors; every write through tickets.services, so it is validated, audited and
notified exactly like the same act in the portal or the admin.
"""

from __future__ import annotations

import functools
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from accounts.permissions import is_customer, is_staff_member
from audit.services import audit_read
from core import pagination, parsers
from core.errors import ApplicationError, NotFound
from core.idempotency import idempotent
from equipment import selectors as equipment_selectors
from equipment.models import ProductLine, WarrantyStatus
from tickets import search as ticket_search
from tickets import selectors
from tickets.api_serializers import (
    CloseIn,
    FaultCodeOut,
    MessageOut,
    ReplyIn,
    TicketDetailOut,
    TicketIn,
    TicketOut,
    UnitDetailOut,
    UnitOut,
)
from tickets.models import (
    ACTIVE_STATUSES,
    Channel,
    Kind,
    Priority,
    Status,
    Ticket,
)
from tickets.services import tickets as ticket_services

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=_(
        "Optional. Repeating a POST with the same key and body returns the first answer and "
        "creates nothing new; the same key with another body is refused with 422."
    ),
)


Pagination = pagination.PageNumberPagination


class TicketPagination(Pagination):
    """Page numbers; a deep page finds its keys first and joins only its own rows. A search
    (`?q=`) takes the page's keys and the count from the search index in one statement
    (tickets.search.RankedPaginator), told the page asked for so that it is that page's."""

    django_paginator_class = ticket_search.RankedPaginator

    def get_page_number(self, request, paginator):
        number = super().get_page_number(request, paginator)
        if str(number).isascii() and str(number).isdigit():
            paginator.first_number = int(number)
        return number

    def get_paginated_response_schema(self, schema):
        """The page answer; in cursor mode (`?cursor=`) the same without `count`."""
        paginated = super().get_paginated_response_schema(schema)
        paginated["required"] = [name for name in paginated.get("required", []) if name != "count"]
        paginated["properties"]["count"]["description"] = "Absent in cursor mode."
        return paginated


class TicketCursorPagination(pagination.CursorPagination):
    """`?cursor=` (empty to start): next/previous links, no count, the same cost at any depth.

    Keyed on the list's order (newest first); a page is `created_at < last seen`, so tickets
    opened while a client walks the list do not shift the pages it has not read yet.

    A search (`?q=`) is newest first by key (tickets.selectors.ticket_list), and its pages
    are keyed on the ticket's key: each page's keys come from the search index
    (`Ranking.keyset`, `id < last seen`) and only that page's rows are read, as the numbered
    pages do. Filtered through the index's EXISTS probes and ordered by `created_at`, a page
    of a word of a few thousand matches made PostgreSQL walk the newest tickets probing each.
    """

    ordering = ("-created_at", "-pk")

    def paginate_queryset(self, queryset, request, view=None):
        ranking = ticket_search.ranking_of(queryset)
        if ranking is None or not ranking.newest:
            return super().paginate_queryset(queryset, request, view)
        pagination.check_page_number(request)
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.ordering = ("-pk",)
        self.cursor = self.decode_cursor(request)
        offset, reverse, position = self.cursor or (0, False, None)
        if position is not None:
            if not (position.isascii() and position.isdigit() and len(position) < 19):
                raise NotFound(self.invalid_cursor_message)
            position = int(position)
        keys = ranking.keyset(
            position=position, reverse=reverse, offset=offset, limit=self.page_size + 1
        )
        shown = keys[: self.page_size]
        rows = {ticket.pk: ticket for ticket in queryset.filter(pk__in=shown)}
        self.page = [rows[key] for key in shown if key in rows]
        following = str(keys[-1]) if len(keys) > len(shown) else None
        # From here as CursorPagination.paginate_queryset: which links the page has.
        if reverse:
            self.page.reverse()
            self.has_next = position is not None or offset > 0
            self.has_previous = following is not None
            self.next_position = str(position) if position is not None else None
            self.previous_position = following
        else:
            self.has_next = following is not None
            self.has_previous = position is not None or offset > 0
            self.next_position = following
            self.previous_position = str(position) if position is not None else None
        return self.page


class ApiView(APIView):
    """Base of the ticket API views: JSON and form parsers (files on multipart)."""

    parser_classes = [parsers.JSONParser, parsers.MultiPartParser, parsers.FormParser]


def _choice_param(request: Request, name: str, values: list[str]) -> str:
    """A filter parameter: absent (""), or one of `values`; anything else, an empty value
    included, is a 400 naming the values (as the schema's enum says)."""
    value = request.query_params.get(name)
    if value is None:
        return ""
    if value not in values:
        raise ApplicationError(
            _("Unknown value of %(name)s.") % {"name": name}, fields={name: [", ".join(values)]}
        )
    return value


def _scope_key(user: Any) -> str:
    """The namespace of Idempotency-Keys: the caller's organisation, or the staff member."""
    if getattr(user, "organisation_id", None) and not user.is_staff:
        return f"org:{user.organisation_id}"
    return f"user:{user.pk}"


# ------------------------------------------------------------------- tickets


# The columns TicketOut reads; the list loads nothing else (no contacts or names to decrypt).
LIST_FIELDS = (
    "reference",
    "subject",
    "status",
    "priority",
    "kind",
    "channel",
    "organisation",
    "unit__serial_number",
    "queue__name",
    "version",
    "created_at",
    "updated_at",
    "resolved_at",
    "closed_at",
    "sla_policy",
    "first_response_due",
    "next_reply_due",
    "resolution_due",
    "sla_paused_at",
    "sla_warning",
    "sla_breached",
    "first_response_met",
    "resolution_met",
)


class TicketListApi(ApiView):
    pagination_class = TicketPagination  # also what the schema documents

    @extend_schema(
        summary="Tickets I may see, newest first",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=[*Status.values, "active"]),
            OpenApiParameter("priority", OpenApiTypes.INT, enum=Priority.values),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=Kind.values),
            OpenApiParameter("unit", OpenApiTypes.STR, description="Serial number"),
            OpenApiParameter("q", OpenApiTypes.STR, description="Reference, subject, serial"),
            OpenApiParameter(
                "cursor",
                OpenApiTypes.STR,
                description=(
                    "Cursor mode: pass it empty for the first page, then follow `next`. "
                    "The answer has next and previous links and no count; deep in a long "
                    "list it is as fast as the first page."
                ),
            ),
        ],
        responses=TicketOut(many=True),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        status_filter: Any = _choice_param(request, "status", [*Status.values, "active"])
        if status_filter == "active":
            status_filter = list(ACTIVE_STATUSES)
        priority = _choice_param(request, "priority", [str(p) for p in Priority.values])
        kind = _choice_param(request, "kind", Kind.values)
        qs = (
            selectors.ticket_list(
                user=request.user,
                status=status_filter or None,
                priority=int(priority) if priority else None,
                kind=kind,
                search=params.get("q", "")[:100],
            )
            .select_related(None)
            .select_related("unit", "queue")
            .only(*LIST_FIELDS)
            .prefetch_related("tags")
        )
        serial = params.get("unit", "")
        if serial:
            qs = qs.filter(unit__serial_number=serial[:40])
        paginator = TicketCursorPagination() if "cursor" in params else self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(TicketOut(page, many=True).data)

    @extend_schema(
        summary="Open a ticket",
        request={"application/json": TicketIn, "multipart/form-data": TicketIn},
        responses={201: TicketOut},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request: Request) -> Response:
        return idempotent(
            request, scope=_scope_key(request.user), handler=lambda: self._create(request)
        )

    def _create(self, request: Request) -> Response:
        data = TicketIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = request.user
        organisation, requester, channel = self._caller(user, values)
        unit = None
        if values.get("unit"):
            unit = equipment_selectors.unit_of_organisation(
                organisation=organisation, serial_number=values["unit"]
            )
            if unit is None:
                raise ApplicationError(
                    _("No unit with this serial number belongs to the organisation."),
                    fields={"unit": [_("Check the serial number on the machine's rating plate.")]},
                )
        report = values.get("fault_report") or None
        ticket = ticket_services.ticket_open(
            actor=user,
            organisation=organisation,
            requester=requester,
            subject=values["subject"],
            body=values["body"],
            unit=unit,
            kind=values["kind"],
            priority=values["priority"],
            channel=channel,
            tags=values.get("tags", ()),
            fault_report=dict(report) if report else None,
            attachments=values.get("attachments", ()),
        )
        return Response(_created_body(ticket), status=status.HTTP_201_CREATED)

    @staticmethod
    def _caller(user: Any, values: dict) -> tuple[Any, Any, str]:
        """Return (organisation, requester, channel) for the caller."""
        email = values.get("requester_email") or ""
        if getattr(user, "api_key", None) is not None:
            organisation, channel, requester = user.organisation, Channel.API, None
        elif is_customer(user):
            return user.organisation, user, Channel.PORTAL
        elif is_staff_member(user):
            if not values.get("organisation"):
                raise ApplicationError(
                    _("Staff must name the customer organisation."),
                    fields={"organisation": [_("This field is required.")]},
                )
            organisation = account_selectors.organisation_get(user=user, pk=values["organisation"])
            channel, requester = Channel.AGENT, None
        else:
            raise NotFound(_("Not found."))
        if email:
            requester = account_selectors.user_by_email(email)
            if requester is None or requester.organisation_id != organisation.pk:
                raise ApplicationError(
                    _("No person with this email belongs to the organisation."),
                    fields={"requester_email": [_("Use the email of a registered contact.")]},
                )
        return organisation, requester, channel


@functools.cache
def _ticket_out() -> TicketOut:
    """One TicketOut per process for the 201 body: building a ModelSerializer's fields (its
    model's fields looked up, each declared field copied and bound) cost more than writing the
    ticket out, on every create. `to_representation` keeps nothing between calls, so the same
    instance serves every request and thread, and the body is TicketOut's by construction."""
    return TicketOut()


def _created_body(ticket: Ticket) -> dict:
    """The 201 body: the ticket as the list shows it (no second read of the new rows)."""
    return _ticket_out().to_representation(ticket)


class TicketDetailApi(ApiView):
    @extend_schema(
        summary="One ticket with its conversation (the latest 50 messages at a time)",
        responses=TicketDetailOut,
        parameters=[
            OpenApiParameter(
                "skip",
                OpenApiTypes.INT,
                description="Pass over this many of the newest messages (earlier_messages "
                "says whether older ones remain: ask again with skip + 50).",
            )
        ],
    )
    def get(self, request: Request, reference: str) -> Response:
        skip = selectors.conversation_skip(request.query_params.get("skip"))
        if skip is None:
            raise ApplicationError(
                _("skip must be a whole number from 0 to 9,999,999."),
                code="invalid",
                fields={"skip": [_("Enter a whole number.")]},
            )
        ticket = selectors.ticket_get(
            user=request.user,
            reference=reference,
            window=selectors.CONVERSATION_WINDOW,
            skip=skip,
        )
        audit_read(actor=request.user, target_type="tickets.ticket", target_id=ticket.pk, via="api")
        return Response(TicketDetailOut(ticket).data)


class TicketReplyApi(ApiView):
    @extend_schema(
        summary="Reply to a ticket (a customer reply reopens a recently resolved ticket)",
        request={"application/json": ReplyIn, "multipart/form-data": ReplyIn},
        responses={201: MessageOut},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request: Request, reference: str) -> Response:
        return idempotent(
            request,
            scope=_scope_key(request.user),
            handler=lambda: self._reply(request, reference),
        )

    def _reply(self, request: Request, reference: str) -> Response:
        data = ReplyIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        ticket = selectors.ticket_get(user=request.user, reference=reference)
        message = ticket_services.ticket_reply(
            ticket=ticket,
            author=request.user,
            body=values["body"],
            internal=values["internal"],
            attachments=values.get("attachments", ()),
            channel=Channel.API if getattr(request.user, "api_key", None) else Channel.PORTAL,
            expected_version=values.get("expected_version"),
        )
        message.author = request.user if getattr(request.user, "pk", None) else None
        return Response(MessageOut(message).data, status=status.HTTP_201_CREATED)


class TicketCloseApi(ApiView):
    @extend_schema(
        summary="Close a ticket",
        request=CloseIn,
        responses=TicketOut,
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request: Request, reference: str) -> Response:
        return idempotent(
            request,
            scope=_scope_key(request.user),
            handler=lambda: self._close(request, reference),
        )

    def _close(self, request: Request, reference: str) -> Response:
        data = CloseIn(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = selectors.ticket_get(user=request.user, reference=reference)
        ticket = ticket_services.ticket_transition(
            ticket=ticket,
            status=Status.CLOSED,
            actor=request.user,
            expected_version=data.validated_data.get("expected_version"),
        )
        return Response(TicketOut(ticket).data)


# ------------------------------------------------------------------- units and fault codes


UNIT_EXAMPLE = OpenApiExample(
    "A stopped machine",
    response_only=True,
    value={
        "serial_number": "LW3000-0042",
        "model": "LaserWeld 3000",
        "model_zh": "激光焊接机 3000",
        "model_code": "lw-3000",
        "product_line": "robotic",
        "organisation": 7,
        "site": "Line 2, Suzhou",
        "site_zh": "苏州 2 号线",
        "installed_on": "2024-03-18",
        "firmware": "4.2.1",
        "warranty_ends_on": "2027-03-18",
        "warranty": "active",
        "contract_tier": "plus",
        "status": {
            "state": "stopped",
            "since": "2026-12-08T09:14:03+08:00",
            "last_seen_at": "2026-12-08T01:14:05Z",
            "last_alarm_at": "2026-12-08T09:14:03+08:00",
            "last_alarm_code": "E-201",
            "silent_since": None,
        },
        "last_alarms": [
            {
                "alarm_id": "LW3000-0042-000913",
                "code": "E-201",
                "severity": "critical",
                "message": "Chiller flow low",
                "occurred_at": "2026-12-08T09:14:03+08:00",
                "received_at": "2026-12-08T01:14:05Z",
                "laser_power_w": 2950.0,
                "temperature_c": 41.5,
                "wire_feed_m_min": None,
                "gas_flow_l_min": None,
                "extra": {"chiller_flow_l_min": 3.1},
            }
        ],
        "open_tickets": [
            {
                "reference": "WD-2026-004211",
                "subject": "Machine alarm E-201 on LW3000-0042: Chiller flow low",
                "status": "new",
                "priority": 2,
                "created_at": "2026-12-08T01:14:05Z",
            }
        ],
    },
)


class UnitListApi(ApiView):
    pagination_class = Pagination

    @extend_schema(
        summary="Installed units I may see, with their warranty status",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Serial, site or model"),
            OpenApiParameter("warranty", OpenApiTypes.STR, enum=WarrantyStatus.values),
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=equipment_selectors.STATES,
                description="The machine's live state; `unknown`: it never reported.",
            ),
        ],
        responses=UnitOut(many=True),
    )
    def get(self, request: Request) -> Response:
        qs = equipment_selectors.unit_list(
            user=request.user,
            search=request.query_params.get("q", "")[:100],
            warranty=_choice_param(request, "warranty", WarrantyStatus.values),
            state=_choice_param(request, "status", equipment_selectors.STATES),
        ).order_by("serial_number")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(UnitOut(page, many=True).data)


class UnitDetailApi(ApiView):
    @extend_schema(
        summary="One unit: warranty, live status, last alarms and open tickets",
        responses=UnitDetailOut,
        examples=[UNIT_EXAMPLE],
    )
    def get(self, request: Request, serial_number: str) -> Response:
        unit = equipment_selectors.unit_get(user=request.user, serial_number=serial_number)
        open_tickets = selectors.ticket_list(user=request.user, status=list(ACTIVE_STATUSES))
        open_tickets = (
            open_tickets.filter(unit=unit)
            .select_related(None)
            .only("reference", "subject", "status", "priority", "created_at")[:100]
        )
        context = {
            "open_tickets": open_tickets,
            "last_alarms": equipment_selectors.latest_alarms(unit, limit=10),
        }
        return Response(UnitDetailOut(unit, context=context).data)


class FaultCodeListApi(ApiView):
    pagination_class = Pagination

    @extend_schema(
        summary="The fault-code catalogue",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR),
            OpenApiParameter("product_line", OpenApiTypes.STR, enum=ProductLine.values),
        ],
        responses=FaultCodeOut(many=True),
    )
    def get(self, request: Request) -> Response:
        qs = equipment_selectors.fault_code_list(
            search=request.query_params.get("q", "")[:100],
            product_line=_choice_param(request, "product_line", ProductLine.values),
        ).order_by("code")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(FaultCodeOut(page, many=True).data)
