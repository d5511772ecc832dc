"""Admin of the machines' alarm rules and silence watches (supervisors), saved through
intake.alarms.rules so every change is audited."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import NoAdminLogMixin
from intake.alarms import rules
from intake.models import AlarmRule, SilenceRule


class _AuditedRuleAdmin(NoAdminLogMixin, admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        rules.rule_save(rule=obj, actor=request.user, changed=list(form.changed_data))

    def delete_model(self, request, obj):
        rules.rule_delete(rule=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            rules.rule_delete(rule=rule, actor=request.user)


@admin.register(AlarmRule)
class AlarmRuleAdmin(_AuditedRuleAdmin):
    list_display = [
        "code_shown",
        "min_severity",
        "opens_ticket",
        "priority",
        "queue",
        "merge_minutes",
        "is_active",
        "note",
    ]
    list_filter = ["is_active", "opens_ticket", "min_severity"]
    search_fields = ["code", "note"]

    @admin.display(description=AlarmRule._meta.get_field("code").verbose_name, ordering="code")
    def code_shown(self, obj: AlarmRule) -> str:
        return obj.code or "*"


@admin.register(SilenceRule)
class SilenceRuleAdmin(_AuditedRuleAdmin):
    list_display = ["contract_tier", "silent_after_minutes", "priority", "queue", "is_active"]
