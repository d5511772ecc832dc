"""Equipment screens for agents: models, installed units with warranty, fault codes."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import path
from django.utils.translation import gettext_lazy as _

from accounts.admin import NoAdminLogMixin
from accounts.admin_scope import RegionScopedAdminMixin
from core.errors import ApplicationError
from equipment import admin_import, selectors, services
from equipment.models import FaultCode, MachineModel, MachineState, Unit, WarrantyStatus


@admin.register(MachineModel)
class MachineModelAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "name_zh",
        "product_line",
        "max_power_w",
        "wavelength_nm",
        "is_active",
    ]
    list_filter = ["product_line", "is_active"]
    search_fields = ["code", "name", "name_zh"]


class UnitAdminForm(forms.ModelForm):
    class Meta:
        model = Unit
        fields = list(services.UNIT_FIELDS)

    def clean_serial_number(self):
        return services.normalise_serial(self.cleaned_data.get("serial_number", ""))

    def validate_unique(self):
        # unit_validate reports a duplicate serial number with a clearer message.
        return None

    def clean(self):
        data = super().clean()
        values = {k: v for k, v in data.items() if v not in (None, "")}
        try:
            services.unit_validate(values, instance=self.instance if self.instance.pk else None)
        except ApplicationError as exc:
            for field, messages in (exc.fields or {}).items():
                if field in self.fields:
                    for message in messages:
                        self.add_error(field, message)
            if not exc.fields:
                raise ValidationError(exc.message) from exc
        return data


class WarrantyFilter(admin.SimpleListFilter):
    title = _("warranty")
    parameter_name = "warranty"

    def lookups(self, request, model_admin):
        return WarrantyStatus.choices

    def queryset(self, request, queryset):
        if self.value() in WarrantyStatus.values:
            return selectors.with_warranty_status(queryset).filter(warranty=self.value())
        return queryset


class MachineStateFilter(admin.SimpleListFilter):
    """The machines' own state (issue 23): running, warning, stopped, never reported."""

    title = _("Machine state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [*MachineState.choices, (selectors.UNKNOWN, _("Never reported"))]

    def queryset(self, request, queryset):
        if self.value() == selectors.UNKNOWN:
            return queryset.filter(live_status__isnull=True)
        if self.value() in MachineState.values:
            return queryset.filter(live_status__state=self.value())
        return queryset


@admin.register(Unit)
class UnitAdmin(RegionScopedAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    form = UnitAdminForm
    list_display = [
        "serial_number",
        "machine_model",
        "organisation",
        "site_display",
        "warranty_ends_on",
        "warranty_display",
        "contract_tier",
        "state_display",
    ]
    list_filter = [
        WarrantyFilter,
        MachineStateFilter,
        "contract_tier",
        "machine_model__product_line",
    ]
    list_select_related = ["machine_model", "organisation", "live_status"]
    search_fields = ["serial_number", "site", "site_zh", "organisation__name"]
    autocomplete_fields = ["organisation"]
    date_hierarchy = "installed_on"
    change_list_template = "admin/equipment/unit/change_list.html"
    actions = [admin_import.export_csv, admin_import.export_xlsx]

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(lambda request: admin_import.import_view(self, request)),
                name="equipment_unit_import",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_import": admin_import.may_import(request.user)}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not admin_import.may_import(request.user):
            for name in ("export_csv", "export_xlsx"):
                actions.pop(name, None)
        return actions

    @admin.display(description=_("site"), ordering="site")
    def site_display(self, obj: Unit) -> str:
        return obj.site_localized

    @admin.display(description=_("warranty"))
    def warranty_display(self, obj: Unit) -> str:
        return obj.get_warranty_status_display()

    @admin.display(description=_("Machine state"), ordering="live_status__state")
    def state_display(self, obj: Unit) -> str:
        status = obj.live_status_or_none
        return status.get_state_display() if status else _("Never reported")

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name) for name in services.UNIT_FIELDS}
        if change:
            changed = {name: data[name] for name in form.changed_data if name in data}
            saved = services.unit_update(
                unit=Unit.objects.get(pk=obj.pk), actor=request.user, **changed
            )
        else:
            values = {k: v for k, v in data.items() if v not in (None, "")}
            saved = services.unit_create(actor=request.user, **values)
        obj.pk = saved.pk


@admin.register(FaultCode)
class FaultCodeAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["code", "title_en", "title_zh", "severity"]
    list_filter = ["severity"]
    search_fields = ["code", "title_en", "title_zh"]
