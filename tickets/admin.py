"""Admin registrations for tickets, queues, calendars and SLA policies.

The agents' workspace (countdowns, reply box, bulk actions) builds on TicketAdmin.
"""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import NoAdminLogMixin
from tickets.models import (
    BusinessCalendar,
    CalendarDay,
    CannedResponse,
    EscalationRule,
    Queue,
    QueueMember,
    SLAPolicy,
    Survey,
    Ticket,
    WorkingHours,
)
from tickets.services.calendars import calendar_touch


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


class QueueMemberInline(admin.TabularInline):
    model = QueueMember
    extra = 0
    fields = ["agent", "is_active", "last_assigned_at"]
    readonly_fields = ["last_assigned_at"]


@admin.register(Queue)
class QueueAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "region", "product_line", "supervisor", "is_active"]
    list_filter = ["region", "product_line", "is_active"]
    inlines = [QueueMemberInline]


@admin.register(CannedResponse)
class CannedResponseAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["title", "is_active"]
    search_fields = ["title", "body_en", "body_zh"]


@admin.register(Ticket)
class TicketAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["reference", "subject", "organisation", "status", "priority", "assignee"]
    list_select_related = ["organisation", "assignee"]
    list_filter = ["status", "priority", "queue"]
    search_fields = ["reference"]
    readonly_fields = [f.name for f in Ticket._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Survey)
class SurveyAdmin(NoAdminLogMixin, admin.ModelAdmin):
    list_display = ["ticket", "agent", "queue", "rating", "sent_at", "answered_at"]
    list_filter = ["rating", "queue"]
    readonly_fields = ["ticket", "agent", "queue", "rating", "comment", "sent_at", "answered_at"]
    exclude = ["nonce"]

    def has_add_permission(self, request):
        return False
