"""Status screens: components, severities with their playbooks, and the incident desk.

Declaring an incident (the add form) and publishing, closing or writing its postmortem need
the supervisors' "manage incidents" permission; agents with change permission post updates,
tick the playbook tasks and add internal notes. Every write goes through status.services.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin import NoAdminLogMixin
from core.admin import LabelledListEditableMixin
from core.errors import ApplicationError
from core.forms import apply_service_errors
from status import services
from status.models import (
    Component,
    ComponentGroup,
    ComponentStatus,
    ComponentStatusChange,
    Drill,
    Incident,
    IncidentState,
    Maintenance,
    MaintenanceState,
    PlaybookStep,
    Severity,
)

MANAGE = "status.manage_incident"
IMPACTS = [c for c in ComponentStatus.choices if c[0] != ComponentStatus.OPERATIONAL]


@admin.register(ComponentGroup)
class ComponentGroupAdmin(LabelledListEditableMixin, NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["name_en", "name_zh", "key", "position"]
    list_editable = ["position"]


class StatusChangeInline(admin.TabularInline):
    model = ComponentStatusChange
    fields = ["at", "from_status", "to_status", "changed_by", "reason", "incident"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-at", "-pk"]
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("incident")


@admin.register(Component)
class ComponentAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["name_en", "name_zh", "group", "kind", "region", "status", "status_since"]
    list_filter = ["status", "kind", "group", "region"]
    list_select_related = ["group", "region"]
    search_fields = ["name_en", "name_zh", "key"]
    readonly_fields = ["status", "status_since"]
    inlines = [StatusChangeInline]


class PlaybookStepInline(admin.TabularInline):
    model = PlaybookStep
    fields = ["position", "kind", "text", "text_zh"]
    extra = 1


@admin.register(Severity)
class SeverityAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = [
        "key",
        "rank",
        "name_en",
        "name_zh",
        "update_every_minutes",
        "requires_postmortem",
    ]
    inlines = [PlaybookStepInline]

    def has_delete_permission(self, request, obj=None):
        return False  # incidents keep their grade


def _text(label, rows: int, *, required: bool = True) -> forms.CharField:
    return forms.CharField(
        label=label, required=required, widget=forms.Textarea(attrs={"rows": rows})
    )


class _IncidentTexts(forms.Form):
    """What an incident's opening and its updates both say: the update in both languages, the
    cause and the expected recovery (labels of the update set by each form)."""

    body_en = _text(gettext_lazy("Update (English)"), 3)
    body_zh = _text(gettext_lazy("Update (Chinese)"), 3)
    cause_en = _text(gettext_lazy("Cause (English)"), 2, required=False)
    cause_zh = _text(gettext_lazy("Cause (Chinese)"), 2, required=False)
    expected_recovery = forms.DateTimeField(
        label=gettext_lazy("Expected recovery"),
        required=False,
        help_text=gettext_lazy("e.g. 2026-11-25 18:30 (your time zone)"),
    )


def _happened_at(label=None) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label or gettext_lazy("Happened at"),
        required=False,
        help_text=gettext_lazy(
            "When it really happened, if earlier than now, e.g. 2026-11-25 08:30 (your time zone)"
        ),
    )


def _happened_reason() -> forms.CharField:
    return forms.CharField(
        label=gettext_lazy("Why the earlier time"),
        required=False,
        max_length=300,
        help_text=gettext_lazy("e.g. the outage was noticed late; kept in the audit log"),
    )


class IncidentOpenForm(_IncidentTexts):
    severity = forms.ModelChoiceField(
        label=gettext_lazy("Severity"), queryset=Severity.objects.order_by("rank")
    )
    title_en = forms.CharField(label=gettext_lazy("Title (English)"), max_length=200)
    title_zh = forms.CharField(label=gettext_lazy("Title (Chinese)"), max_length=200)
    components = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Affected components"),
        queryset=Component.objects.select_related("group"),
        widget=forms.CheckboxSelectMultiple,
    )
    impact = forms.ChoiceField(label=gettext_lazy("Impact"), choices=IMPACTS)
    publish = forms.BooleanField(
        label=gettext_lazy("Publish now (status page and banners)"), required=False, initial=True
    )
    started_at = _happened_at(gettext_lazy("Started at"))
    started_reason = _happened_reason()
    field_order = ["severity", "title_en", "title_zh", "components", "impact", "body_en"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["body_en"].label = gettext_lazy("First update (English)")
        self.fields["body_zh"].label = gettext_lazy("First update (Chinese)")


class IncidentUpdateForm(_IncidentTexts):
    state = forms.ChoiceField(label=gettext_lazy("State"), choices=IncidentState.choices)
    at = _happened_at()
    reason = _happened_reason()
    field_order = ["state"]


class HappenedAtForm(forms.Form):
    """Correct when the start or an update happened (supervisors): an outage noticed late."""

    target = forms.ChoiceField(label=gettext_lazy("What"))
    when = forms.DateTimeField(
        label=gettext_lazy("Happened at"),
        help_text=gettext_lazy("e.g. 2026-11-25 08:30 (your time zone)"),
    )
    reason = forms.CharField(
        label=gettext_lazy("Why"),
        max_length=300,
        help_text=gettext_lazy("e.g. the outage was noticed late; kept in the audit log"),
    )

    def __init__(self, *args, incident, **kwargs):
        super().__init__(*args, **kwargs)
        self.incident = incident
        choices = [("start", _("The start"))]
        for u in incident.updates.order_by("at", "pk"):
            stamp = timezone.localtime(u.at).strftime("%Y-%m-%d %H:%M")
            choices.append((str(u.pk), f"{u.get_state_display()} · {stamp}"))
        self.fields["target"].choices = choices

    def update(self):
        target = self.cleaned_data["target"]
        return None if target == "start" else self.incident.updates.get(pk=int(target))


@admin.register(Incident)
class IncidentAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["title_en", "severity", "state", "published", "started_at", "resolved_at"]
    list_filter = ["state", "severity"]
    list_select_related = ["severity"]
    search_fields = ["title_en", "title_zh"]
    date_hierarchy = "started_at"
    change_form_template = "admin/status/incident/desk.html"

    @admin.display(description=gettext_lazy("published"), boolean=True)
    def published(self, obj):
        return obj.published_at is not None

    def has_add_permission(self, request):
        return request.user.has_perm(MANAGE)

    def has_delete_permission(self, request, obj=None):
        return False  # incidents are the record

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise Http404
        form = IncidentOpenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                incident = services.incident_open(
                    actor=request.user,
                    severity=data["severity"],
                    title_en=data["title_en"],
                    title_zh=data["title_zh"],
                    components=[(c, data["impact"]) for c in data["components"]],
                    body_en=data["body_en"],
                    body_zh=data["body_zh"],
                    cause_en=data["cause_en"],
                    cause_zh=data["cause_zh"],
                    expected_recovery=data["expected_recovery"],
                    publish=data["publish"],
                    started_at=data["started_at"],
                    started_reason=data["started_reason"],
                )
            except ApplicationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Incident opened."))
                return redirect("admin:status_incident_change", incident.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Declare an incident"),
            "form": form,
        }
        return TemplateResponse(
            request, "admin/status/form.html", context, status=400 if form.errors else 200
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        incident = self.get_object(request, object_id)  # None for a malformed id too
        if incident is None or not self.has_view_permission(request, incident):
            raise Http404
        operation = request.POST.get("operation")
        update_form = IncidentUpdateForm(
            request.POST if operation == "update" else None,
            initial={"state": incident.state},
        )
        happened_form = HappenedAtForm(
            request.POST if operation == "happened" else None, incident=incident
        )
        if request.method == "POST":
            if not self.has_change_permission(request, incident):
                raise Http404
            done = self._operate(request, incident, update_form, happened_form)
            if done is not None:
                return done
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": incident,
            "title": str(incident),
            "incident": incident,
            "impacts": incident.impacts.select_related("component"),
            "updates": incident.updates.order_by("-at", "-pk"),
            "tasks": incident.tasks.select_related("done_by"),
            "notes": incident.notes.select_related("author"),
            "update_form": update_form,
            "happened_form": happened_form,
            "can_change": self.has_change_permission(request, incident),
            "can_manage": request.user.has_perm(MANAGE),
        }
        status = 400 if update_form.errors or happened_form.errors else 200
        return TemplateResponse(request, self.change_form_template, context, status=status)

    def _operate(
        self, request, incident, update_form, happened_form
    ) -> HttpResponseRedirect | None:
        """Run one operation of the desk; None when its form has errors to show."""
        operation = request.POST.get("operation", "")
        manage_only = {"publish", "postmortem", "close", "report", "happened"}
        forms_of = {"update": update_form, "happened": happened_form}
        try:
            if operation in manage_only and not request.user.has_perm(MANAGE):
                raise ApplicationError(_("Only a supervisor can do this."))
            if operation == "update":
                if not update_form.is_valid():
                    return None
                data = update_form.cleaned_data
                services.incident_update(
                    incident=incident,
                    actor=request.user,
                    state=data["state"],
                    body_en=data["body_en"],
                    body_zh=data["body_zh"],
                    cause_en=data["cause_en"] or None,
                    cause_zh=data["cause_zh"] or None,
                    expected_recovery=data["expected_recovery"] or "keep",
                    at=data["at"],
                    reason=data["reason"],
                )
            elif operation == "happened":
                if not happened_form.is_valid():
                    return None
                services.incident_happened_at(
                    incident=incident,
                    actor=request.user,
                    update=happened_form.update(),
                    when=happened_form.cleaned_data["when"],
                    reason=happened_form.cleaned_data["reason"],
                )
            elif operation == "task":
                task = incident.tasks.filter(pk=request.POST.get("task") or 0).first()
                if task is None:
                    raise ApplicationError(_("No such task on this incident."))
                services.incident_task_set(
                    task=task, actor=request.user, done=request.POST.get("done") == "1"
                )
            elif operation == "note":
                services.incident_note_add(
                    incident=incident, actor=request.user, body=request.POST.get("body", "")
                )
            elif operation == "publish":
                services.incident_publish(incident=incident, actor=request.user)
            elif operation == "postmortem":
                services.incident_postmortem(
                    incident=incident, actor=request.user, text=request.POST.get("postmortem", "")
                )
            elif operation == "close":
                services.incident_close(incident=incident, actor=request.user)
            elif operation == "report":
                services.report_publish(
                    incident=incident,
                    actor=request.user,
                    done_en=request.POST.get("done_en", ""),
                    done_zh=request.POST.get("done_zh", ""),
                )
            else:
                raise ApplicationError(_("Unknown action."))
        except ApplicationError as exc:
            if operation in forms_of:
                apply_service_errors(forms_of[operation], exc)
                return None
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("admin:status_incident_change", args=[incident.pk]))


class MaintenanceForm(forms.Form):
    title_en = forms.CharField(label=gettext_lazy("Title (English)"), max_length=200)
    title_zh = forms.CharField(label=gettext_lazy("Title (Chinese)"), max_length=200)
    components = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Components"),
        queryset=Component.objects.select_related("group"),
        widget=forms.CheckboxSelectMultiple,
    )
    starts_at = forms.DateTimeField(
        label=gettext_lazy("Starts"), help_text=gettext_lazy("e.g. 2026-11-28 22:00")
    )
    ends_at = forms.DateTimeField(
        label=gettext_lazy("Ends"), help_text=gettext_lazy("e.g. 2026-11-29 02:00")
    )
    body_en = forms.CharField(
        label=gettext_lazy("Details (English)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    body_zh = forms.CharField(
        label=gettext_lazy("Details (Chinese)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@admin.register(Maintenance)
class MaintenanceAdmin(NoAdminLogMixin, admin.ModelAdmin):
    """Supervisors plan windows; the periodic tick starts and ends them. Planned windows can
    be cancelled (a running one ends at once); nothing else changes after planning."""

    list_display = ["title_en", "state", "starts_at", "ends_at"]
    list_filter = ["state"]
    readonly_fields = [
        "title_en",
        "title_zh",
        "body_en",
        "body_zh",
        "starts_at",
        "ends_at",
        "state",
        "listed_components",
    ]
    fields = readonly_fields
    actions = ["cancel"]

    @admin.display(description=gettext_lazy("components"))
    def listed_components(self, obj):
        return ", ".join(c.name for c in obj.components.all())

    def has_add_permission(self, request):
        return request.user.has_perm(MANAGE)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=gettext_lazy("Cancel the selected windows"), permissions=["manage"])
    def cancel(self, request, queryset):
        for window in queryset.exclude(
            state__in=[MaintenanceState.COMPLETED, MaintenanceState.CANCELLED]
        ):
            services.maintenance_cancel(maintenance=window, actor=request.user)
        messages.success(request, _("The windows are cancelled."))

    def has_manage_permission(self, request):
        return request.user.has_perm(MANAGE)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise Http404
        form = MaintenanceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                window = services.maintenance_schedule(actor=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Maintenance planned."))
                return redirect("admin:status_maintenance_change", window.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Plan maintenance"),
            "form": form,
            "submit_label": _("Plan the window"),
        }
        return TemplateResponse(
            request, "admin/status/form.html", context, status=400 if form.errors else 200
        )


@admin.register(Drill)
class DrillAdmin(NoAdminLogMixin, admin.ModelAdmin):
    """Failover drills: planned monthly per hotline, run with `manage.py failover_drill`
    (docs/status-page.md); supervisors add notes and plan extra drills."""

    list_display = ["component", "scheduled_for", "outcome", "recovery_seconds", "started_at"]
    list_filter = ["outcome", "component"]
    list_select_related = ["component"]
    fields = [
        "component",
        "scheduled_for",
        "switched",
        "outcome",
        "started_at",
        "ended_at",
        "recovery_seconds",
        "timings",
        "incident",
        "run_by",
        "notes",
    ]
    readonly_fields = [
        "outcome",
        "started_at",
        "ended_at",
        "recovery_seconds",
        "timings",
        "incident",
        "run_by",
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what was tested
