"""Admin screens for users, organisations, regions and roles (devices and API keys: admin_access).

Every save goes through accounts.services (audited); Django's own admin log is not written,
because it would copy personal data (the object's name) into a plaintext table.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts import roles, services
from accounts.admin_scope import RegionScopedAdminMixin, is_autocomplete
from accounts.forms import ReauthForm
from accounts.models import Organisation, Region, User
from audit.admin import ReadAuditedMixin
from audit.services import audit_record
from core import crypto
from core.admin import ReadOnlyAdminMixin
from core.errors import ApplicationError


class NoAdminLogMixin:
    """Skip django_admin_log rows: the audit chain records these acts without personal data."""

    def log_addition(self, request, obj, message):
        return None

    def log_change(self, request, obj, message):
        return None

    def log_deletion(self, request, obj, object_repr):
        return None

    def log_deletions(self, request, queryset):
        return None


def _personal_term(request, term: str) -> bool:
    """True when a search term is an email or phone to match through the blind indexes.

    Not in the autocomplete: select2 sends the typed term in the URL, so it matches names only.
    """
    if is_autocomplete(request):
        return False
    return "@" in term or term.lstrip("+").replace(" ", "").isdigit()


def _blind_search(queryset, term: str, *fields: str):
    """Match a typed email or phone against blind indexes."""
    from django.db.models import Q

    query = Q()
    email_index = crypto.blind_index("email", term)
    phone_index = crypto.blind_index("phone", term)
    for field in fields:
        kind = "email" if "email" in field else "phone"
        value = email_index if kind == "email" else phone_index
        if value:
            query |= Q(**{field: value})
    return queryset.filter(query) if query else queryset.none()


class UserAdminForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(
        label=_("Roles"),
        choices=[(r, roles.ROLE_LABELS[r]) for r in roles.ROLES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    password = forms.CharField(
        label=_("Initial password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to let the person set one through a password reset."),
    )
    # A new e-mail address or phone number of anyone: the acting staff member's own password
    # and current code again (accounts/services/reauth.py).
    reauth_password = ReauthForm.base_fields["reauth_password"]
    reauth_code = ReauthForm.base_fields["reauth_code"]

    request = None  # set by UserAdmin.get_form: the re-authentication is the actor's
    reauth = None
    reauth_refused = False

    class Meta:
        model = User
        fields = [
            "email",
            "full_name",
            "phone",
            "organisation",
            "language",
            "timezone",
            "is_active",
            "is_staff",
            "is_superuser",
            "regions",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["roles"].initial = sorted(
                self.instance.groups.filter(name__in=roles.ROLES).values_list("name", flat=True)
            )
            self.fields.pop("password", None)
            # A view-only form (staff without change permission) has no editable fields.
            if "organisation" in self.fields:
                self.fields["organisation"].disabled = True
            for name in ReauthForm.REAUTH_FIELDS:
                if name in self.fields:
                    self.fields[name].help_text = _(
                        "Only to change the e-mail address or phone number: your own password "
                        "and the code from your authenticator app."
                    )
        else:
            for name in ReauthForm.REAUTH_FIELDS:
                self.fields.pop(name, None)

    def validate_unique(self):
        # Uniqueness of the email is checked in clean() through the blind index.
        return None

    def clean(self):
        cleaned = super().clean()
        email = cleaned.get("email")
        if email:
            taken = User.objects.filter(email_bidx=crypto.blind_index("email", email))
            if self.instance.pk:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                self.add_error("email", _("A user with this email address already exists."))
        is_staff = cleaned.get("is_staff") or cleaned.get("is_superuser")
        organisation = (
            cleaned.get("organisation") if not self.instance.pk else self.instance.organisation
        )
        if is_staff and organisation is not None:
            self.add_error(
                "organisation", _("Staff members do not belong to a customer organisation.")
            )
        if not is_staff and organisation is None:
            self.add_error("organisation", _("A customer user needs an organisation."))
        identity_changed = {"email", "phone"} & set(self.changed_data)
        if self.instance.pk and identity_changed and not self.errors:
            try:
                self.reauth = services.reauthenticate(
                    request=self.request,
                    actor=self.request.user,
                    password=cleaned.get("reauth_password"),
                    code=cleaned.get("reauth_code"),
                )
            except ApplicationError as exc:
                self.reauth_refused = True
                for field, errors in exc.fields.items():
                    for error in errors:
                        self.add_error(field, error)
        password = cleaned.get("password")
        if password and not self.instance.pk:
            try:
                validate_password(
                    password, User(email=email or "", full_name=cleaned.get("full_name", ""))
                )
            except ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class RoleFilter(admin.SimpleListFilter):
    """The role groups by their labels in the reader's language (group names are identifiers)."""

    title = _("role")
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [(name, roles.ROLE_LABELS[name]) for name in roles.ROLES]

    def queryset(self, request, queryset):
        if self.value() in roles.ROLES:
            return queryset.filter(groups__name=self.value())
        return queryset


@admin.register(User)
class UserAdmin(RegionScopedAdminMixin, ReadAuditedMixin, NoAdminLogMixin, admin.ModelAdmin):
    """People. An agent limited to regions sees the customers of those regions only (staff
    belong to no organisation, so they see no staff here)."""

    form = UserAdminForm
    list_display = ["id", "email", "full_name", "organisation", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_active", RoleFilter, "organisation__region"]
    list_select_related = ["organisation"]
    search_fields = ["organisation__name"]
    search_help_text = _("Search by exact email address, phone number or organisation name.")
    ordering = ["-id"]
    filter_horizontal = ["regions"]
    # Single sign-on: the provider's subject, and when the provider's "gone" deactivated the
    # account (a later single sign-on it accepts reactivates; docs/security.md).
    readonly_fields = ["last_login", "date_joined", "oidc_subject", "oidc_deprovisioned_at"]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if _personal_term(request, term):
            return _blind_search(queryset, term, "email_bidx", "phone_bidx"), False
        return super().get_search_results(request, queryset, search_term)

    def has_delete_permission(self, request, obj=None):
        return False  # people are erased through the compliance process, not deleted here

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def get_fields(self, request, obj=None):
        # The initial password is for new accounts only; re-authentication for changes only.
        # A read-only page (no change permission) has nothing to confirm.
        fields = super().get_fields(request, obj)
        drop = {"password"} if obj is not None else set(ReauthForm.REAUTH_FIELDS)
        if obj is not None and not self.has_change_permission(request, obj):
            drop |= set(ReauthForm.REAUTH_FIELDS)
        return [f for f in fields if f not in drop]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        response = super().render_change_form(request, context, add, change, form_url, obj)
        if getattr(context["adminform"].form, "reauth_refused", False):
            response.status_code = 403  # refused, as the service would: nothing was changed
        return response

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if not change:
                form.instance = services.user_create(
                    email=data["email"],
                    full_name=data["full_name"],
                    phone=data.get("phone", ""),
                    password=data.get("password") or None,
                    organisation=data.get("organisation"),
                    language=data["language"],
                    timezone=data["timezone"],
                    is_staff=data["is_staff"],
                    is_superuser=data["is_superuser"],
                    roles=data["roles"],
                    regions=data["regions"],
                    actor=request.user,
                )
                obj.pk = form.instance.pk
                return
            original = User.objects.get(pk=obj.pk)
            profile = {
                name: data[name]
                for name in ("full_name", "email", "phone", "language", "timezone")
                if name in form.changed_data
            }
            with transaction.atomic():
                if profile:
                    services.user_update_profile(
                        user=original, actor=request.user, reauth=form.reauth, **profile
                    )
                services.user_set_access(
                    user=original,
                    actor=request.user,
                    is_active=data["is_active"],
                    is_staff=data["is_staff"],
                    is_superuser=data["is_superuser"],
                    roles=data["roles"],
                    regions=data["regions"],
                )
        except ApplicationError as exc:
            # Rare: a concurrent change beat the form's checks. Nothing was written.
            self.message_user(request, exc.message, messages.ERROR)

    def save_related(self, request, form, formsets, change):
        return None  # roles and regions were saved by the service


@admin.register(Organisation)
class OrganisationAdmin(
    RegionScopedAdminMixin, ReadAuditedMixin, NoAdminLogMixin, admin.ModelAdmin
):
    region_scope = "pk"
    list_display = ["name", "code", "name_en", "tier", "region", "is_active"]
    list_filter = ["tier", "region", "is_active"]
    list_select_related = ["region"]
    search_fields = ["name", "name_en", "=code"]
    search_help_text = _("Search by name, or by the exact contact email or phone.")
    fields = [
        "name",
        "code",
        "name_en",
        "tier",
        "region",
        "contact_name",
        "contact_email",
        "contact_phone",
        "address",
        "is_active",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        # A new organisation without a code gets "WD-<id>"; an existing one keeps a code.
        if "code" in form.base_fields:  # not for a viewer who may only read
            form.base_fields["code"].required = obj is not None
        return form

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if _personal_term(request, term):
            return _blind_search(queryset, term, "contact_email_bidx", "contact_phone_bidx"), False
        return super().get_search_results(request, queryset, search_term)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in self.fields}
        if change:
            changed = {name: data[name] for name in form.changed_data if name in data}
            saved = services.organisation_update(
                organisation=Organisation.objects.get(pk=obj.pk), actor=request.user, **changed
            )
        else:
            name, region = data.pop("name"), data.pop("region")
            saved = services.organisation_create(
                actor=request.user, name=name, region=region, **data
            )
        obj.pk = saved.pk


@admin.register(Region)
class RegionAdmin(ReadOnlyAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["code", "name_en", "name_zh"]


class GroupAdminForm(forms.ModelForm):
    class Meta:
        model = Group
        fields = ["name", "permissions"]


admin.site.unregister(Group)


@admin.register(Group)
class AuditedGroupAdmin(NoAdminLogMixin, admin.ModelAdmin):
    """Role groups; every change of a group's permissions is audited."""

    form = GroupAdminForm
    list_display = ["role"]
    search_fields = ["name"]
    filter_horizontal = ["permissions"]

    @admin.display(description=_("role"), ordering="name")
    def role(self, obj):
        """The role's label in the reader's language (the group's name is its identifier)."""
        return roles.ROLE_LABELS.get(obj.name, obj.name)

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name == "permissions":
            kwargs["queryset"] = Permission.objects.select_related("content_type")
        return super().formfield_for_manytomany(db_field, request=request, **kwargs)

    def save_related(self, request, form, formsets, change):
        group = form.instance
        before = (
            set(group.permissions.values_list("content_type__app_label", "codename"))
            if change
            else set()
        )
        super().save_related(request, form, formsets, change)
        after = set(group.permissions.values_list("content_type__app_label", "codename"))
        audit_record(
            action="group.permissions_changed" if change else "group.created",
            actor=request.user,
            target=group,
            changes={"name": group.name},
            data={
                "added": sorted(f"{a}.{c}" for a, c in after - before),
                "removed": sorted(f"{a}.{c}" for a, c in before - after),
            },
        )


# The ways in (second-factor devices, API keys): registered by their own module.
from accounts import admin_access  # noqa: E402, F401
