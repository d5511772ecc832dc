"""The outbox in the admin: read-only, with a retry action for failed deliveries."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from audit.admin import ReadAuditedMixin
from core.admin import AllRegionsOnlyMixin, ReadOnlyAdminMixin
from notifications import services
from notifications.models import Outbox


@admin.action(description=_("Retry the selected failed deliveries"))
def retry(modeladmin, request, queryset):
    n = services.outbox_retry(ids=list(queryset.values_list("pk", flat=True)))
    modeladmin.message_user(request, _("%(n)d deliveries queued again.") % {"n": n})


@admin.register(Outbox)
class OutboxAdmin(AllRegionsOnlyMixin, ReadOnlyAdminMixin, ReadAuditedMixin, admin.ModelAdmin):
    """Deliveries to any customer, with no organisation to scope by: for staff who see every
    region (supervisors, compliance)."""

    list_display = [
        "id",
        "channel",
        "status",
        "attempts",
        "about_type",
        "about_id",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "channel"]
    search_fields = ["about_id", "key"]
    fields = [
        "key",
        "channel",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "about_type",
        "about_id",
        "language",
        "created_at",
        "sent_at",
    ]
    readonly_fields = fields
    actions = [retry]
