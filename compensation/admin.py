"""Compensation screens: policies, assessments, grants to approve, vouchers, and totals.

Supervisors keep the policies, assess events, approve or reject grants (one by one or in
bulk, with a reason) and reverse applied ones. Every decision goes through
compensation.services, which checks the permission again and audits it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from accounts.admin import NoAdminLogMixin
from accounts.admin_scope import RegionScopedAdminMixin
from audit import people
from audit.services import audit_record
from compensation import selectors, services
from compensation.models import (
    Assessment,
    Grant,
    GrantStatus,
    Policy,
    PolicyTier,
    Voucher,
    VoucherStatus,
)
from core.admin import AllRegionsOnlyMixin, LabelledListEditableMixin, ReadOnlyAdminMixin
from core.errors import ApplicationError
from status import selectors as status_selectors
from tickets import selectors as ticket_selectors


class PolicyTierInline(admin.TabularInline):
    model = PolicyTier
    fields = [
        "tier",
        "warranty_days_per_hour",
        "warranty_days_max",
        "voucher_value",
        "voucher_valid_days",
        "priority_days",
    ]
    extra = 0
    min_num = 1


@admin.register(Policy)
class PolicyAdmin(LabelledListEditableMixin, NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["name", "event", "position", "is_active", "updated_at"]
    list_editable = ["position", "is_active"]
    list_filter = ["event", "is_active"]
    search_fields = ["name"]
    inlines = [PolicyTierInline]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "position", "event"]}),
        (
            gettext_lazy("Which incidents qualify"),
            {"fields": ["max_severity_rank", "min_duration_minutes"]},
        ),
        (gettext_lazy("Which breached tickets qualify"), {"fields": ["max_priority"]}),
        (
            gettext_lazy("Who counts as affected by an incident"),
            {"fields": ["affects_contacts", "affects_units"]},
        ),
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # grants refer to their policy: switch it off instead

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        changed = list(form.changed_data)
        for formset in formsets:
            if formset.has_changed():
                changed.append("tiers")
        audit_record(
            action="compensation.policy_changed" if change else "compensation.policy_created",
            actor=request.user,
            target=form.instance,
            changes=sorted(set(changed)),
        )


class AssessForm(forms.Form):
    incident = forms.IntegerField(
        label=gettext_lazy("Incident number"), required=False, min_value=1
    )
    ticket = forms.CharField(label=gettext_lazy("or ticket reference"), required=False)

    def clean(self):
        data = super().clean()
        if bool(data.get("incident")) == bool((data.get("ticket") or "").strip()):
            raise forms.ValidationError(_("Give an incident number or a ticket reference."))
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=services.REASON_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )

    def __init__(self, *args, required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required


@admin.register(Assessment)
class AssessmentAdmin(AllRegionsOnlyMixin, ReadOnlyAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    """An assessment spans every affected customer, of any region: supervisors' work, closed to
    staff limited to regions (their grants are in the scoped grant list)."""

    list_display = [
        "__str__",
        "event",
        "hours",
        "window_start",
        "window_end",
        "runs",
        "assessed_at",
        "assessor",
    ]
    list_filter = ["event"]
    readonly_fields = [
        "key",
        "event",
        "incident",
        "ticket",
        "window_start",
        "window_end",
        "hours",
        "runs",
        "assessed_at",
        "assessor",
    ]
    change_form_template = "admin/compensation/assessment/change_form.html"
    change_list_template = "admin/compensation/assessment/change_list.html"

    def get_urls(self):
        return [
            path(
                "assess/", self.admin_site.admin_view(self.assess_view), name="compensation_assess"
            ),
            path(
                "<int:pk>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="compensation_assessment_decide",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=gettext_lazy("assessed by"), ordering="assessed_by")
    def assessor(self, obj: Assessment) -> str:
        """Who ran it, named for a viewer allowed to see people (the row holds "user:10")."""
        return getattr(obj, "assessor_label", "") or people.neutral(obj.assessed_by)

    @staticmethod
    def _label(request, assessments) -> None:
        assessments = list(assessments)
        labels = people.labels(request.user, {a.assessed_by for a in assessments})
        for assessment in assessments:
            assessment.assessor_label = labels.get(assessment.assessed_by, "")

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        self._label(request, changelist.result_list)
        return changelist

    def get_object(self, request, object_id, from_field=None):
        assessment = super().get_object(request, object_id, from_field)
        if assessment is not None:
            self._label(request, [assessment])
        return assessment

    def _may(self, request, permission: str) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(permission)

    def changelist_view(self, request, extra_context=None):
        extra = {"can_assess": self._may(request, services.ASSESS)}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        assessment = self.get_object(request, object_id)  # None for a malformed id too
        if assessment is None:
            raise Http404
        extra = {
            "counts": selectors.assessment_counts(assessment),
            "can_decide": self._may(request, services.DECIDE),
            "grants_url": reverse("admin:compensation_grant_changelist")
            + f"?assessment__id__exact={assessment.pk}",
            "reason_form": ReasonForm(),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def assess_view(self, request):
        if not self._may(request, services.ASSESS):
            raise PermissionDenied
        form = AssessForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                result = self._assess(request, form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    _(
                        "%(orgs)s customers affected; %(n)s new grants proposed "
                        "(policies: %(policies)s)."
                    )
                    % {
                        "orgs": result.organisations,
                        "n": result.proposed,
                        "policies": ", ".join(result.policies) or _("none matched"),
                    },
                    messages.SUCCESS if result.policies else messages.WARNING,
                )
                return HttpResponseRedirect(
                    reverse("admin:compensation_assessment_change", args=[result.assessment.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Assess an event"),
            "opts": self.model._meta,
            "form": form,
            "incidents": status_selectors.resolved_incidents(
                since=timezone.now() - timezone.timedelta(days=90)
            )[-20:],
        }
        request.current_app = self.admin_site.name
        status = 400 if request.method == "POST" else 200
        return TemplateResponse(
            request, "admin/compensation/assessment/assess.html", context, status=status
        )

    def _assess(self, request, data):
        if data.get("incident"):
            incident = status_selectors.incident_for_compensation(pk=data["incident"])
            if incident is None:
                raise ApplicationError(_("No such incident."))
            return services.assess_incident(incident=incident, actor=request.user)
        ticket = ticket_selectors.ticket_by_reference(data["ticket"].strip())
        if ticket is None:
            raise ApplicationError(_("No such ticket."))
        return services.assess_ticket(ticket=ticket, actor=request.user)

    def decide_view(self, request, pk):
        if request.method != "POST" or not self._may(request, services.DECIDE):
            raise PermissionDenied
        assessment = get_object_or_404(Assessment, pk=pk)
        approve = request.POST.get("decision") == "approve"
        form = ReasonForm(request.POST, required=not approve)
        back = reverse("admin:compensation_assessment_change", args=[pk])
        if not form.is_valid():
            self.message_user(request, _("Give a reason to reject."), messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            services.assessment_decide_all_later(
                assessment=assessment,
                approve=approve,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request,
                _("Approving every proposed grant: this page shows the progress.")
                if approve
                else _("Rejecting every proposed grant: this page shows the progress."),
            )
        return HttpResponseRedirect(back)


class EventFilter(admin.SimpleListFilter):
    title = gettext_lazy("event")
    parameter_name = "assessment__id__exact"

    def lookups(self, request, model_admin):
        # Only events with a grant the user may see: a ticket's event names its ticket.
        seen = model_admin.get_queryset(request).values("assessment_id")
        events = Assessment.objects.filter(pk__in=seen).order_by("-assessed_at")[:20]
        return [(a.pk, str(a)) for a in events]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(assessment_id=self.value())
        return queryset


@admin.register(Grant)
class GrantAdmin(RegionScopedAdminMixin, ReadOnlyAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    list_display = [
        "number",
        "organisation",
        "tier",
        "kind",
        "what",
        "status",
        "assessment",
        "created_at",
    ]
    list_filter = ["status", "kind", "tier", EventFilter]
    list_select_related = ["organisation", "assessment"]

    @admin.display(description=gettext_lazy("number"), ordering="pk")
    def number(self, obj):
        return obj.pk

    search_fields = ["organisation__name"]
    list_per_page = 100
    show_full_result_count = False
    actions = ["approve", "reject", "reverse"]
    fields = [
        "assessment",
        "policy",
        "organisation",
        "kind",
        "tier",
        "status",
        "what",
        "why",
        "decided_by",
        "decided_at",
        "decision_reason",
        "applied_at",
        "reversed_by",
        "reversed_at",
        "reversal_reason",
    ]
    readonly_fields = fields

    def get_urls(self):
        return [
            path(
                "totals/",
                self.admin_site.admin_view(self.totals_view),
                name="compensation_totals",
            ),
            *super().get_urls(),
        ]

    def has_decide_permission(self, request):
        return request.user.has_perm(services.DECIDE)

    @admin.display(description=gettext_lazy("what"))
    def what(self, obj: Grant) -> str:
        return services.describe(obj, request_language())

    @admin.display(description=gettext_lazy("why"))
    def why(self, obj: Grant) -> str:
        labels = {
            "tickets": _("tickets"),
            "tickets_count": _("tickets in all"),
            "calls": _("calls"),
            "chats": _("chats"),
            "units": _("machines"),
            "units_count": _("machines in all"),
            "hours": _("hours"),
        }
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {}</li>",
                (
                    (labels.get(k, k), ", ".join(v) if isinstance(v, list) else v)
                    for k, v in obj.evidence.items()
                ),
            ),
        )

    def _decide(self, request, queryset, *, action: str, title: str, run, required: bool):
        if "apply" in request.POST:
            form = ReasonForm(request.POST, required=required)
            if form.is_valid():
                try:
                    done = run(
                        list(queryset.values_list("pk", flat=True)), form.cleaned_data["reason"]
                    )
                except ApplicationError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                    return None
                self.message_user(
                    request,
                    ngettext(
                        "%(n)d grant done; %(s)d skipped (no longer in that state).",
                        "%(n)d grants done; %(s)d skipped (no longer in that state).",
                        done.done,
                    )
                    % {"n": done.done, "s": done.skipped},
                    messages.SUCCESS if done.done else messages.WARNING,
                )
                return None
        else:
            form = ReasonForm(required=required)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "grants": queryset.select_related("organisation")[:500],
            "count": queryset.count(),
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/compensation/grant/action.html", context)

    @admin.action(description=gettext_lazy("Approve and apply…"), permissions=["decide"])
    def approve(self, request, queryset):
        return self._decide(
            request,
            queryset,
            action="approve",
            title=_("Approve and apply grants"),
            required=False,
            run=lambda ids, reason: services.grants_approve(
                grant_ids=ids, actor=request.user, reason=reason
            ),
        )

    @admin.action(description=gettext_lazy("Reject…"), permissions=["decide"])
    def reject(self, request, queryset):
        return self._decide(
            request,
            queryset,
            action="reject",
            title=_("Reject grants"),
            required=True,
            run=lambda ids, reason: services.grants_reject(
                grant_ids=ids, actor=request.user, reason=reason
            ),
        )

    @admin.action(description=gettext_lazy("Reverse applied grants…"), permissions=["decide"])
    def reverse(self, request, queryset):
        def run(ids, reason):
            done = services.Decided()
            for grant in Grant.objects.filter(pk__in=ids).order_by("pk"):
                if grant.status != GrantStatus.APPLIED:
                    done.skipped += 1
                    continue
                try:
                    services.grant_reverse(grant=grant, actor=request.user, reason=reason)
                except ApplicationError as exc:
                    self.message_user(request, f"#{grant.pk}: {exc.message}", messages.ERROR)
                    done.skipped += 1
                else:
                    done.done += 1
            return done

        return self._decide(
            request,
            queryset,
            action="reverse",
            title=_("Reverse applied grants"),
            required=True,
            run=run,
        )

    def totals_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        group = request.GET.get("group", "incident")
        if group not in selectors.GROUPS:
            group = "incident"
        search = request.GET.get("q", "").strip()[:100]
        if request.GET.get("format") == "csv":
            audit_record(
                action="compensation.totals_exported",
                actor=request.user,
                data={"group": group, "search": bool(search)},
            )
            response = StreamingHttpResponse(
                selectors.totals_csv(user=request.user, group=group, search=search),
                content_type="text/csv",
            )
            response["Content-Disposition"] = (
                f'attachment; filename="compensation-{group}-{timezone.localdate():%Y%m%d}.csv"'
            )
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": _("Compensation totals"),
            "opts": self.model._meta,
            "group": group,
            "groups": list(selectors.GROUPS.items()),
            "search": search,
            "rows": selectors.totals(user=request.user, group=group, search=search),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/compensation/grant/totals.html", context)


@admin.register(Voucher)
class VoucherAdmin(RegionScopedAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["code", "organisation", "value", "expires_on", "status", "issued_at"]
    list_filter = ["status"]
    list_select_related = ["organisation"]
    search_fields = ["code", "organisation__name"]
    readonly_fields = [
        "code",
        "grant",
        "organisation",
        "value",
        "expires_on",
        "status",
        "issued_at",
        "redeemed_at",
        "voided_at",
    ]
    actions = ["redeem"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=gettext_lazy("Mark as redeemed"), permissions=["change"])
    def redeem(self, request, queryset):
        done = 0
        for voucher in queryset.filter(status=VoucherStatus.ISSUED):
            try:
                services.voucher_redeem(voucher=voucher, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{voucher.code}: {exc.message}", messages.ERROR)
            else:
                done += 1
        self.message_user(
            request,
            ngettext("%(n)d voucher redeemed.", "%(n)d vouchers redeemed.", done) % {"n": done},
        )


def request_language() -> str:
    return get_language() or "en"
