"""Shipments in the admin: agents add one from a ticket's page and follow its timeline.

Adding goes through logistics.services.shipment_create (validated, audited, tracked at once);
nothing else about a shipment is edited by hand: its status comes from the carrier.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import selectors as account_selectors
from accounts.admin import NoAdminLogMixin
from accounts.admin_scope import RegionScopedAdminMixin
from audit.admin import ReadAuditedMixin
from core.errors import ApplicationError
from core.forms import apply_service_errors
from equipment import selectors as equipment_selectors
from logistics import carriers, services
from logistics.models import Direction, Shipment, ShipmentKind, TrackingEvent
from logistics.panels import status_line
from tickets import selectors as ticket_selectors


def parse_items(text: str) -> list[dict]:
    """One item a line: "2 x nozzle 1.2 mm", "2x nozzle" or just "nozzle" (one); a Chinese
    name for Chinese readers after a bar: "2 x nozzle 1.2 mm | 喷嘴 1.2 mm"."""
    items = []
    for line in text.splitlines():
        line, _bar, name_zh = line.partition("|")
        line, name_zh = line.strip(), name_zh.strip()
        if not line:
            continue
        quantity, _sep, rest = line.partition("x")
        if quantity.strip().isdigit() and rest.strip():
            item = {"quantity": int(quantity.strip()), "description": rest.strip()}
        else:
            item = {"quantity": 1, "description": line}
        if name_zh:
            item["name_zh"] = name_zh
        items.append(item)
    return items


class ShipmentForm(forms.Form):
    organisation = forms.ModelChoiceField(label=gettext_lazy("Customer"), queryset=None)
    tickets = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Tickets"), queryset=None, required=False
    )
    tickets_wait = forms.BooleanField(
        label=gettext_lazy("The tickets wait for it (on hold until delivered; SLA paused)"),
        required=False,
    )
    units = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Machines"), queryset=None, required=False
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=ShipmentKind.choices)
    direction = forms.ChoiceField(label=gettext_lazy("Direction"), choices=Direction.choices)
    carrier = forms.ChoiceField(label=gettext_lazy("Carrier"))
    courier = forms.CharField(
        label=gettext_lazy("Courier code"),
        required=False,
        max_length=32,
        help_text=gettext_lazy("For Kuaidi100: the courier's code, e.g. shunfeng, zhongtong."),
    )
    tracking_number = forms.CharField(label=gettext_lazy("Tracking number"), max_length=40)
    delivery_address = forms.CharField(
        label=gettext_lazy("Delivery address"), max_length=500, widget=forms.Textarea({"rows": 3})
    )
    recipient_phone = forms.CharField(
        label=gettext_lazy("Recipient's phone"), required=False, max_length=40
    )
    items = forms.CharField(
        label=gettext_lazy("Items"),
        widget=forms.Textarea({"rows": 4}),
        help_text=gettext_lazy(
            'One a line, e.g. "2 x protective lens D30"; the name Chinese readers see after a '
            'bar: "2 x protective lens D30 | 保护镜片 D30".'
        ),
    )
    expected_on = forms.DateField(
        label=gettext_lazy("Expected delivery"),
        required=False,
        help_text=gettext_lazy("e.g. 2026-12-10"),
    )

    def __init__(self, *args, user, ticket=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = account_selectors.organisation_list(user=user)
        self.fields["carrier"].choices = carriers.carrier_choices()
        chosen = str(self.data.get("organisation", ""))
        org_id = int(chosen) if chosen.isdigit() else (ticket.organisation_id if ticket else 0)
        # Only the chosen customer's tickets and machines, among those the agent may see.
        tickets = ticket_selectors.ticket_list(user=user).filter(organisation_id=org_id)
        units = equipment_selectors.unit_list(user=user).filter(organisation_id=org_id)
        self.fields["tickets"].queryset = tickets
        self.fields["units"].queryset = units


@admin.register(Shipment)
class ShipmentAdmin(RegionScopedAdminMixin, ReadAuditedMixin, NoAdminLogMixin, admin.ModelAdmin):
    list_display = [
        "tracking_number",
        "kind",
        "direction",
        "organisation",
        "status",
        "expected_on",
        "checked_at",
    ]
    list_filter = ["status", "kind", "direction", "carrier"]
    list_select_related = ["organisation"]
    search_fields = ["tracking_number", "organisation__name", "tickets__reference"]
    list_per_page = 50
    show_full_result_count = False
    actions = ["check_now"]
    fields = [
        "organisation",
        "kind",
        "direction",
        "carrier",
        "courier",
        "tracking_number",
        "item_lines",
        "expected_on",
        "tracking",
        "checked_at",
        "last_error",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields
    change_form_template = "admin/logistics/shipment/change_form.html"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("items"))
    def item_lines(self, obj: Shipment) -> str:
        """ "2 × protective lens D30 (保护镜片 D30)": both names, as the agent entered them."""
        lines = []
        for item in obj.items or []:
            line = f"{item.get('quantity', 1)} × {item.get('description', '')}"
            if item.get("name_zh"):
                line += f" ({item['name_zh']})"
            lines.append(line)
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    @admin.display(description=gettext_lazy("tracking"))
    def tracking(self, obj: Shipment) -> str:
        return status_line(obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        shipment = self.get_object(request, object_id)  # None for a malformed id too
        events = TrackingEvent.objects.filter(shipment=shipment).order_by("-at", "-pk")
        extra = {"events": list(events[:200]) if shipment is not None else []}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        ticket = None
        if request.GET.get("ticket", "").isdigit():
            ticket = (
                ticket_selectors.ticket_list(user=request.user)
                .filter(pk=request.GET["ticket"])
                .first()
            )
        initial = {}
        if ticket is not None:
            initial = {
                "organisation": ticket.organisation_id,
                "tickets": [ticket.pk],
                "units": [ticket.unit_id] if ticket.unit_id else [],
                "delivery_address": ticket.organisation.address,
                "kind": ShipmentKind.SPARE_PART,
            }
        data = request.POST if request.method == "POST" else None
        form = ShipmentForm(data, initial=initial, user=request.user, ticket=ticket)
        if data is not None and form.is_valid():
            cleaned = form.cleaned_data
            try:
                shipment = services.shipment_create(
                    actor=request.user,
                    organisation=cleaned["organisation"],
                    kind=cleaned["kind"],
                    direction=cleaned["direction"],
                    carrier=cleaned["carrier"],
                    courier=cleaned["courier"].strip(),
                    tracking_number=cleaned["tracking_number"],
                    delivery_address=cleaned["delivery_address"],
                    recipient_phone=cleaned["recipient_phone"],
                    items=parse_items(cleaned["items"]),
                    expected_on=cleaned["expected_on"],
                    tickets=list(cleaned["tickets"]),
                    units=list(cleaned["units"]),
                    tickets_wait=cleaned["tickets_wait"],
                )
            except ApplicationError as exc:
                apply_service_errors(form, exc)
            else:
                self.message_user(
                    request,
                    _("Shipment %(number)s recorded; tracking has started.")
                    % {"number": shipment.tracking_number},
                    messages.SUCCESS,
                )
                if ticket is not None:
                    return HttpResponseRedirect(
                        reverse("admin:tickets_ticket_change", args=[ticket.pk])
                    )
                return HttpResponseRedirect(
                    reverse("admin:logistics_shipment_change", args=[shipment.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add a shipment"),
            "opts": self.model._meta,
            "form": form,
            "ticket": ticket,
        }
        request.current_app = self.admin_site.name
        status = 400 if data is not None else 200
        return TemplateResponse(
            request, "admin/logistics/shipment/add.html", context, status=status
        )

    @admin.action(description=gettext_lazy("Ask the carrier now"), permissions=["view"])
    def check_now(self, request, queryset):
        ok = failed = 0
        for shipment in queryset[:100]:
            if services.track_one(shipment=shipment):
                ok += 1
            else:
                failed += 1
        self.message_user(
            request,
            _("%(ok)s updated; %(failed)s carriers did not answer (they are asked again later).")
            % {"ok": ok, "failed": failed},
            messages.SUCCESS if not failed else messages.WARNING,
        )
