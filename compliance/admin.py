"""Compliance officers find a person and export everything held about them."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.utils.translation import gettext_lazy

from accounts.admin import NoAdminLogMixin
from accounts.admin_scope import RegionScopedAdminMixin
from accounts.selectors import user_by_email
from audit.admin import ReadAuditedMixin
from compliance import services
from compliance.models import DataSubject, ErasureRequest
from core.admin import ReadOnlyAdminMixin
from core.errors import ApplicationError


@admin.register(DataSubject)
class DataSubjectAdmin(
    RegionScopedAdminMixin, ReadOnlyAdminMixin, ReadAuditedMixin, NoAdminLogMixin, admin.ModelAdmin
):
    list_display = ["id", "email", "full_name", "organisation", "is_staff", "is_active"]
    list_select_related = ["organisation"]
    search_fields = ["organisation__name"]
    search_help_text = gettext_lazy("An exact e-mail address, or an organisation's name.")
    fields = ["email", "full_name", "organisation", "is_active", "date_joined", "last_login"]
    readonly_fields = fields
    actions = ["export_data", "request_erasure"]
    show_full_result_count = False

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

    @admin.action(
        description=gettext_lazy("Record an erasure request for them"), permissions=["review"]
    )
    def request_erasure(self, request, queryset):
        for person in queryset[:50]:
            try:
                services.erasure_request(
                    subject=person, actor=request.user, reason="recorded by compliance"
                )
            except ApplicationError as exc:
                self.message_user(request, f"{person.pk}: {exc.message}", messages.ERROR)
        self.message_user(
            request, gettext_lazy("Requests recorded; review them under Erasure requests.")
        )

    def has_review_permission(self, request):
        return request.user.has_perm(services.REVIEW)


class ReviewActionForm(helpers.ActionForm):
    """The action bar with a note beside it (a rejection needs one)."""

    note = forms.CharField(
        label=gettext_lazy("Note (required to reject)"),
        required=False,
        max_length=300,
        widget=forms.Textarea({"rows": 2}),
    )


@admin.register(ErasureRequest)
class ErasureRequestAdmin(
    RegionScopedAdminMixin, ReadOnlyAdminMixin, NoAdminLogMixin, admin.ModelAdmin
):
    region_scope = "subject__organisation"

    list_display = ["number", "subject", "status", "requested_by", "requested_at", "reviewed_by"]
    list_filter = ["status"]
    list_select_related = ["subject", "requested_by", "reviewed_by"]

    @admin.display(description=gettext_lazy("number"), ordering="pk")
    def number(self, obj):
        return obj.pk

    fields = [
        "subject",
        "requested_by",
        "reason",
        "status",
        "requested_at",
        "reviewed_by",
        "reviewed_at",
        "review_note",
        "summary",
    ]
    readonly_fields = fields
    actions = ["approve", "reject"]
    action_form = ReviewActionForm

    def has_review_permission(self, request):
        return request.user.has_perm(services.REVIEW)

    def _review(self, request, queryset, *, approve: bool):
        note = request.POST.get("note", "")
        done = 0
        for item in queryset[:20]:
            try:
                services.erasure_review(
                    request=item, actor=request.user, approve=approve, note=note
                )
            except ApplicationError as exc:
                self.message_user(request, f"#{item.pk}: {exc.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, gettext_lazy("%(n)s requests reviewed.") % {"n": done})

    @admin.action(description=gettext_lazy("Approve and erase now"), permissions=["review"])
    def approve(self, request, queryset):
        self._review(request, queryset, approve=True)

    @admin.action(description=gettext_lazy("Reject (give a note)"), permissions=["review"])
    def reject(self, request, queryset):
        self._review(request, queryset, approve=False)
