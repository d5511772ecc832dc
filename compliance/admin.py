"""Compliance officers find a person and export everything held about them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.utils.translation import gettext_lazy

from accounts.admin import NoAdminLogMixin
from accounts.selectors import user_by_email
from audit.admin import ReadAuditedMixin
from compliance import services
from compliance.models import DataSubject
from core.errors import ApplicationError


@admin.register(DataSubject)
class DataSubjectAdmin(ReadAuditedMixin, NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["id", "email", "full_name", "organisation", "is_staff", "is_active"]
    list_select_related = ["organisation"]
    search_fields = ["organisation__name"]
    search_help_text = gettext_lazy("An exact e-mail address, or an organisation's name.")
    fields = ["email", "full_name", "organisation", "is_active", "date_joined", "last_login"]
    readonly_fields = fields
    actions = ["export_data"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if "@" in term:
            found = user_by_email(term)
            return queryset.filter(pk=found.pk if found else 0), False
        return super().get_search_results(request, queryset, search_term)

    def has_export_permission(self, request):
        return request.user.has_perm("compliance.export_datasubject")

    @admin.action(description=gettext_lazy("Export all their data (ZIP)"), permissions=["export"])
    def export_data(self, request, queryset):
        people = list(queryset[:2])
        if len(people) != 1:
            self.message_user(request, gettext_lazy("Choose exactly one person."), messages.ERROR)
            return None
        try:
            archive = services.access_export(subject=people[0], actor=request.user)
        except ApplicationError as exc:
            if exc.status_code == 403:
                raise PermissionDenied from exc
            self.message_user(request, exc.message, messages.ERROR)
            return None
        return FileResponse(
            archive,
            as_attachment=True,
            filename=f"personal-data-user-{people[0].pk}.zip",
            content_type="application/zip",
        )
