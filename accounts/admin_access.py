"""Admin screens of the ways in: second-factor devices (reset, re-authenticated) and API keys.

Split from accounts/admin.py (imported at its end, so Django's autodiscovery finds these).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import roles, services
from accounts.admin import NoAdminLogMixin
from accounts.admin_scope import RegionScopedAdminMixin
from accounts.forms import ReauthForm
from accounts.models import ApiKey
from accounts.permissions import has_role
from core.errors import ApplicationError
from core.forms import apply_service_errors

# Second-factor devices: the default admin shows backup codes; ours shows no secret.
for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.action(description=_("Reset two-factor authentication (the person enrols again)"))
def reset_second_factor(modeladmin, request, queryset):
    """Ask for the acting staff member's password and code on a confirmation page, then
    remove the selected people's devices (a hijacked session alone cannot)."""
    users = sorted({device.user for device in queryset.select_related("user")}, key=lambda u: u.pk)
    confirmed = request.POST.get("confirm") == "yes"
    form = ReauthForm(request.POST if confirmed else None)
    status = 200
    if confirmed and form.is_valid():
        try:
            reauth = services.reauthenticate(
                request=request, actor=request.user, **form.reauth_values()
            )
        except ApplicationError as exc:
            apply_service_errors(form, exc)
            status = exc.status_code
        else:
            for user in users:
                services.otp_devices_reset(
                    user=user, actor=request.user, reason="admin", reauth=reauth
                )
            modeladmin.message_user(
                request,
                _("Two-factor authentication was reset for %(n)d people.") % {"n": len(users)},
            )
            return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": _("Reset two-factor authentication"),
        "opts": modeladmin.model._meta,
        "people": users,
        "devices": queryset,
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(
        request, "admin/accounts/reset_second_factor.html", context, status=status
    )


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(RegionScopedAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    # Customers who enrolled a device are listed by email: scoped like the people.
    region_scope = "user__organisation"
    # django_otp's field names and help texts are not translatable: shown through our labels.
    list_display = ["owner", "device_name", "is_confirmed", "last_used"]
    list_select_related = ["user"]
    fields = ["owner", "device_name", "is_confirmed", "last_used", "created"]
    readonly_fields = fields
    actions = [reset_second_factor]

    @admin.display(description=_("user"), ordering="user")
    def owner(self, obj):
        return obj.user

    @admin.display(description=_("name"), ordering="name")
    def device_name(self, obj):
        return obj.name

    @admin.display(description=_("confirmed"), boolean=True, ordering="confirmed")
    def is_confirmed(self, obj):
        return obj.confirmed

    @admin.display(description=_("last used at"), ordering="last_used_at")
    def last_used(self, obj):
        # A read-only callable's None is printed as "None" on the change page.
        return obj.last_used_at or self.get_empty_value_display()

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj):
        return obj.created_at

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["organisation", "name", "scope"]


@admin.action(description=_("Revoke the selected API keys"))
def revoke_api_keys(modeladmin, request, queryset):
    n = 0
    for key in queryset.filter(revoked_at__isnull=True):
        services.api_key_revoke(key=key, actor=request.user)
        n += 1
    modeladmin.message_user(request, _("%(n)d API keys were revoked.") % {"n": n})


@admin.register(ApiKey)
class ApiKeyAdmin(RegionScopedAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    """Supervisors create keys here; the token is shown once, then only its prefix."""

    list_display = [
        "name",
        "organisation",
        "scope",
        "prefix",
        "created_at",
        "last_used_at",
        "active",
    ]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["organisation", "created_by"]
    search_fields = ["name", "prefix", "organisation__name"]
    readonly_fields = [
        "organisation",
        "name",
        "scope",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = [revoke_api_keys]

    @admin.display(boolean=True, description=_("active"))
    def active(self, obj):
        return obj.is_active

    def _supervisor(self, request) -> bool:
        return has_role(request.user, roles.SUPERVISOR)

    def has_module_permission(self, request):
        return self._supervisor(request)

    def has_view_permission(self, request, obj=None):
        return self._supervisor(request)

    def has_add_permission(self, request):
        return self._supervisor(request)

    def has_change_permission(self, request, obj=None):
        # The change page is read-only; revoking is the bulk action.
        return self._supervisor(request) and obj is None

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["organisation", "name", "scope"] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        key, token = services.api_key_create(
            actor=request.user,
            organisation=form.cleaned_data["organisation"],
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
        )
        obj.pk = key.pk
        messages.warning(
            request,
            _(
                "Copy this key now; it will not be shown again. Give it to %(org)s's system "
                "through a safe channel: %(token)s"
            )
            % {"org": key.organisation, "token": token},
        )
