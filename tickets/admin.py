"""Admin registrations for tickets, queues, calendars and SLA policies, and the agents' workspace.

The workspace is TicketAdmin: the queue list with SLA countdowns, filters and bulk actions
(here), and the ticket page (tickets.admin_workspace). Every write goes through
tickets.services.tickets, so it is audited; a refusal becomes an admin message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.admin import NoAdminLogMixin
from accounts.admin_scope import RegionScopedAdminMixin
from core.errors import ApplicationError
from tickets import admin_forms, search, selectors
from tickets.admin_list import QueueListFilter, TicketChangeList
from tickets.admin_live import LiveAdminMixin
from tickets.admin_views import TicketListMixin
from tickets.admin_workspace import TicketPageMixin, countdown_html
from tickets.home import WorkFilter
from tickets.models import (
    BusinessCalendar,
    CalendarDay,
    CannedResponse,
    EscalationRule,
    Priority,
    PriorityRule,
    Queue,
    QueueMember,
    SLAPolicy,
    Status,
    Survey,
    Ticket,
    WorkingHours,
)
from tickets.services import impact
from tickets.services import tickets as svc
from tickets.services.calendars import calendar_touch

# Periods offered on the satisfaction page, in days (None: all time).
SCORE_PERIODS = {"30": 30, "90": 90, "365": 365, "all": None}


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 0
    fields = ["date", "kind", "name", "source"]
    readonly_fields = ["source"]
    ordering = ["-date"]


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["name", "timezone", "holiday_country", "version", "updated_at"]
    inlines = [WorkingHoursInline, CalendarDayInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Any edit of hours or days must reach the SLA engine's per-process cache.
        calendar_touch(calendar=form.instance)


class EscalationRuleInline(admin.TabularInline):
    model = EscalationRule
    extra = 0


@admin.register(SLAPolicy)
class SLAPolicyAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "tier",
        "priority",
        "clock",
        "first_response_minutes",
        "next_reply_minutes",
        "resolution_minutes",
    ]
    list_filter = ["tier", "priority", "clock"]
    inlines = [EscalationRuleInline]


@admin.register(PriorityRule)
class PriorityRuleAdmin(NoAdminLogMixin, admin.ModelAdmin):
    """The priority table supervisors keep: saved and deleted through the service, audited."""

    list_display = [
        "position",
        "name",
        "production",
        "safety",
        "min_machines",
        "priority",
        "notify_supervisor",
        "is_active",
    ]
    list_display_links = ["name"]
    list_filter = ["is_active", "priority"]
    ordering = ["position", "pk"]

    @admin.display(description=gettext_lazy("safety risk"), ordering="safety_risk")
    def safety(self, obj: PriorityRule) -> str:
        # Words, not Django's null-boolean icon (its "None" has no translation).
        return {True: _("Yes"), False: _("No")}.get(obj.safety_risk, _("Either answer"))

    def save_model(self, request, obj, form, change):
        impact.priority_rule_save(rule=obj, actor=request.user, changed=list(form.changed_data))

    def delete_model(self, request, obj):
        impact.priority_rule_delete(rule=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            impact.priority_rule_delete(rule=rule, actor=request.user)


class QueueMemberInline(admin.TabularInline):
    model = QueueMember
    extra = 0
    fields = ["agent", "is_active", "last_assigned_at"]
    readonly_fields = ["last_assigned_at"]


@admin.register(Queue)
class QueueAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["name", "name_zh", "slug", "region", "product_line", "supervisor", "is_active"]
    list_filter = ["region", "product_line", "is_active"]
    inlines = [QueueMemberInline]


@admin.register(CannedResponse)
class CannedResponseAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["title", "title_zh", "is_active"]
    search_fields = ["title", "title_zh", "body_en", "body_zh"]


# ------------------------------------------------------------------- the queue list


class AssigneeFilter(admin.SimpleListFilter):
    title = gettext_lazy("assignment")
    parameter_name = "assigned"

    def lookups(self, request, model_admin):
        return [("mine", gettext_lazy("Mine")), ("unassigned", gettext_lazy("Unassigned"))]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(assignee=request.user)
        if self.value() == "unassigned":
            return queryset.filter(assignee__isnull=True)
        return queryset


@admin.register(Ticket)
class TicketAdmin(
    LiveAdminMixin,
    TicketListMixin,
    TicketPageMixin,
    RegionScopedAdminMixin,
    NoAdminLogMixin,
    admin.ModelAdmin,
):
    # The countdown sits next to the reference so it stays in view on narrow screens.
    list_display = [
        "reference",
        "priority_badge",
        "sla_countdown",
        "subject",
        "organisation",
        "status",
        "queue",
        "assignee_name",
    ]
    list_display_links = ["reference"]
    # Everything a row shows is joined (only the columns it shows: tickets.admin_list); the
    # SLA calendar's hours and holidays come from the per-process cache.
    list_select_related = ["organisation", "queue", "assignee", "sla_policy__calendar"]
    list_filter = [
        ("queue", QueueListFilter),
        "status",
        "priority",
        "sla_breached",
        AssigneeFilter,
        WorkFilter,  # the agents' home links here (tickets.home)
    ]
    # The box searches the ticket search index (tickets.search, see get_search_results).
    search_fields = ["reference"]
    search_help_text = gettext_lazy(
        "Any part of the reference (000006), a serial number, a fault code, an organisation, "
        "the requester's name or e-mail (or the part before @), words of the subject or the "
        "conversation, in English or Chinese. Every word must match."
    )
    list_per_page = 50
    # "3 of 120,000" would cost a second COUNT over the whole table on every page view.
    show_full_result_count = False
    # Deep pages find their 50 keys first and join only those rows; a search in rank order
    # finds a page's keys and the count in one statement (tickets.search.RankedPaginator).
    paginator = search.RankedPaginator
    actions = ["assign_to_agent", "assign_automatically", "change_status", "merge_duplicates"]

    class Media:
        css = {"all": ["tickets/workspace.css", "tickets/live.css", "tickets/keys.css"]}
        js = ["tickets/workspace.js", "tickets/live.js", "tickets/keys.js"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changelist(self, request, **kwargs):
        return TicketChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        # The page about to be shown, as the changelist reads it: the count comes with it.
        try:
            number = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            number = 1
        # The agents' list of the whole desk is counted from the planner's estimate above
        # 200,000 tickets ("about N"): COUNT(*) over a million was most of the page's time.
        return self.paginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            number=number,
            estimates=True,
        )

    def get_ordering(self, request):
        """Every list is by urgency (selectors.urgency_ordering) unless a sort is chosen
        (`o`, see TicketChangeList.get_ordering); a queue's list puts customers with
        priority service first while it lasts."""
        if request.GET.get("queue__id__exact"):
            return selectors.queue_ordering(now=timezone.now())
        return selectors.urgency_ordering()

    def action_checkbox(self, obj: Ticket) -> str:
        # Django's markup, without rendering a widget through the template engine per row.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(_("Select this object for an action - {}"), obj.reference),
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # Names, e-mails and messages are encrypted: the index holds keyed hashes of their
        # terms, and the list orders the matches by search_rank (TicketChangeList).
        try:
            return search.search_tickets(queryset, term, internal=True), False
        except search.SearchTooLong:
            self.message_user(
                request,
                _("Search for at most %(n)s characters.") % {"n": search.MAX_QUERY_LENGTH},
                messages.ERROR,
            )
            return queryset.none(), False

    @admin.display(description=gettext_lazy("priority"), ordering="priority")
    def priority_badge(self, obj: Ticket) -> str:
        # Not get_priority_display() for the known values: it hashes every label, every row.
        known = obj.priority in Priority.values
        return format_html(
            '<span class="prio prio-{}" title="{}">P{}</span>',
            obj.priority,
            Priority(obj.priority).label if known else obj.get_priority_display(),
            obj.priority,
        )

    @admin.display(description=gettext_lazy("assignee"), ordering="assignee")
    def assignee_name(self, obj: Ticket) -> str:
        if obj.assignee is None:
            return "—"
        return obj.assignee.full_name or obj.assignee.email

    @admin.display(description=gettext_lazy("SLA (working time)"), ordering="sla_next_due")
    def sla_countdown(self, obj: Ticket) -> str:
        return countdown_html(selectors.sla_countdown(obj))

    # --------------------------------------------------------------- bulk actions

    def _apply_each(
        self, request, tickets, apply: Callable[[Ticket], Any], success: Callable[[int], str]
    ) -> int:
        """Call a service per ticket; report each refusal, let the others apply."""
        done = 0
        for ticket in tickets:
            try:
                apply(ticket)
            except ApplicationError as exc:
                self.message_user(
                    request,
                    _("%(ref)s: %(error)s") % {"ref": ticket.reference, "error": exc.message},
                    messages.ERROR,
                )
            else:
                done += 1
        if done:
            self.message_user(request, success(done), messages.SUCCESS)
        return done

    def _action_page(self, request, queryset, *, form, action: str, title: str, intro: str):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "opts": self.model._meta,
            "tickets": queryset,
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tickets/ticket/action.html", context)

    @admin.action(description=gettext_lazy("Assign to an agent…"), permissions=["change"])
    def assign_to_agent(self, request, queryset):
        # Offered: the desk agents of any selected ticket's queue; each ticket then checks its
        # own queue (an agent of queue A is refused for the ticket of queue B, with a message).
        by_queue = selectors.assignable_by_queue(
            queue_ids=set(queryset.values_list("queue_id", flat=True))
        )
        agents = selectors.merge_people(by_queue.values())

        def assign(ticket: Ticket, agent: Any) -> Any:
            if agent not in by_queue.get(ticket.queue_id, []):
                raise ApplicationError(_("Choose an active agent of this ticket's queue."))
            return svc.ticket_assign(ticket=ticket, agent=agent, actor=request.user)

        if "apply" in request.POST:
            form = admin_forms.BulkAssignForm(request.POST, agents=agents)
            if form.is_valid():
                agent = form.chosen
                self._apply_each(
                    request,
                    queryset,
                    lambda t: assign(t, agent),
                    lambda n: (
                        ngettext("%(n)d ticket assigned.", "%(n)d tickets assigned.", n) % {"n": n}
                    ),
                )
                return None
        else:
            form = admin_forms.BulkAssignForm(agents=agents)
        return self._action_page(
            request,
            queryset,
            form=form,
            action="assign_to_agent",
            title=_("Assign tickets"),
            intro=_("Choose the agent who takes these tickets."),
        )

    @admin.action(description=gettext_lazy("Assign automatically"), permissions=["change"])
    def assign_automatically(self, request, queryset):
        self._apply_each(
            request,
            queryset,
            lambda t: svc.ticket_assign_automatically(ticket=t, actor=request.user),
            lambda n: (
                ngettext(
                    "%(n)d ticket assigned automatically.",
                    "%(n)d tickets assigned automatically.",
                    n,
                )
                % {"n": n}
            ),
        )

    @admin.action(description=gettext_lazy("Change status…"), permissions=["change"])
    def change_status(self, request, queryset):
        if "apply" in request.POST:
            form = admin_forms.BulkStatusForm(request.POST)
            if form.is_valid():
                status, reason = form.cleaned_data["status"], form.cleaned_data["reason"]
                self._apply_each(
                    request,
                    queryset,
                    lambda t: svc.ticket_transition(
                        ticket=t, status=status, actor=request.user, reason=reason
                    ),
                    lambda n: (
                        ngettext(
                            "%(n)d ticket changed to %(status)s.",
                            "%(n)d tickets changed to %(status)s.",
                            n,
                        )
                        % {"n": n, "status": Status(status).label}
                    ),
                )
                return None
        else:
            form = admin_forms.BulkStatusForm()
        return self._action_page(
            request,
            queryset,
            form=form,
            action="change_status",
            title=_("Change status"),
            intro=_("Tickets that cannot make this change keep their status and are listed."),
        )

    @admin.action(description=gettext_lazy("Merge duplicates…"), permissions=["change"])
    def merge_duplicates(self, request, queryset):
        tickets = list(queryset.select_related("organisation"))
        if len(tickets) < 2:
            self.message_user(request, _("Select at least two tickets to merge."), messages.ERROR)
            return None
        if "apply" in request.POST:
            form = admin_forms.MergeForm(request.POST, tickets=tickets)
            if form.is_valid():
                self._merge(request, into=form.target, duplicates=form.duplicates)
                return None
        else:
            form = admin_forms.MergeForm(tickets=tickets)
        return self._action_page(
            request,
            queryset,
            form=form,
            action="merge_duplicates",
            title=_("Merge duplicate tickets"),
            intro=_(
                "The other tickets' messages and files move to the one you keep, "
                "and they are closed."
            ),
        )

    def _merge(self, request, *, into: Ticket, duplicates: list[Ticket]) -> None:
        try:
            svc.ticket_merge(duplicates=duplicates, into=into, actor=request.user)
        except ApplicationError:
            # One refusal undoes the whole merge: merge one by one so the others still go.
            failures: list[str] = []
            merged = 0
            for duplicate in duplicates:
                try:
                    svc.ticket_merge(duplicates=[duplicate], into=into, actor=request.user)
                except ApplicationError as exc:
                    if exc.message not in failures:
                        failures.append(exc.message)
                else:
                    merged += 1
            for failure in failures:
                self.message_user(request, failure, messages.ERROR)
        else:
            merged = len(duplicates)
        if merged:
            self.message_user(
                request,
                ngettext(
                    "%(n)d ticket merged into %(ref)s.",
                    "%(n)d tickets merged into %(ref)s.",
                    merged,
                )
                % {"n": merged, "ref": into.reference},
                messages.SUCCESS,
            )


# ------------------------------------------------------------------- satisfaction


@admin.register(Survey)
class SurveyAdmin(RegionScopedAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["ticket", "agent", "queue", "rating", "sent_at", "answered_at"]
    list_filter = ["rating", "queue"]
    list_select_related = ["ticket", "agent", "queue"]
    region_scope = "ticket__organisation"
    readonly_fields = ["ticket", "agent", "queue", "rating", "comment", "sent_at", "answered_at"]
    exclude = ["nonce"]

    class Media:
        css = {"all": ["tickets/workspace.css"]}

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        scores = path(
            "scores/",
            self.admin_site.admin_view(self.scores_view),
            name="tickets_survey_scores",
        )
        return [scores, *super().get_urls()]

    def scores_view(self, request):
        """Satisfaction per agent and per queue, from aggregate queries."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        period = request.GET.get("period", "90")
        if period not in SCORE_PERIODS:
            period = "90"
        days = SCORE_PERIODS[period]
        since = timezone.now() - dt.timedelta(days=days) if days else None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Satisfaction scores"),
            "opts": self.model._meta,
            "scores": selectors.survey_scores(user=request.user, since=since),
            "period": period,
            "periods": [
                ("30", _("Last 30 days")),
                ("90", _("Last 90 days")),
                ("365", _("Last 365 days")),
                ("all", _("All time")),
            ],
            "changelist_url": reverse("admin:tickets_survey_changelist"),
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tickets/survey/scores.html", context)
