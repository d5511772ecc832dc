"""The outbox in the admin (read-only, with a retry action for failed deliveries), and
organisations' webhook endpoints with their delivery log (attempts, replay)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import roles
from accounts.admin import NoAdminLogMixin
from accounts.admin_scope import RegionScopedAdminMixin
from accounts.permissions import has_role
from audit.admin import ReadAuditedMixin
from core.admin import AllRegionsOnlyMixin, ReadOnlyAdminMixin
from core.errors import ApplicationError
from notifications import endpoints, services
from notifications.models import (
    EventType,
    Outbox,
    Status,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


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
        "attempt_log",
    ]
    readonly_fields = fields
    actions = [retry]

    @admin.display(description=_("attempts of the webhook"))
    def attempt_log(self, obj):
        return _attempt_table(obj)


def _attempt_table(row: Outbox) -> str:
    """The attempts of a webhook delivery, oldest first (none for other channels)."""
    attempts = list(WebhookAttempt.objects.filter(outbox=row).order_by("at", "pk"))
    if not attempts:
        return "-"
    return render_to_string("admin/notifications/attempts.html", {"attempts": attempts})


def _supervisor(request) -> bool:
    return has_role(request.user, roles.SUPERVISOR)


class EndpointForm(forms.ModelForm):
    """The form of an endpoint: its URL checked as every delivery will check it."""

    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_(
            "An https address of the organisation's own system on the public internet. "
            "The signing secret is shown once, after saving."
        ),
    )
    events = forms.MultipleChoiceField(
        label=_("events"),
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("What this endpoint receives (docs/webhooks.md shows each payload)."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["organisation", "url", "description", "events", "is_active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        problem = endpoints.url_problem(url)
        if problem:
            raise forms.ValidationError(
                gettext("The desk cannot deliver to this URL: %(why)s.") % {"why": problem}
            )
        return url.strip()

    def clean(self):
        data = super().clean()
        organisation = data.get("organisation")
        if self.instance.pk is None and organisation:
            if not organisation.is_active:
                self.add_error("organisation", gettext("This organisation's account is inactive."))
            taken = WebhookEndpoint.objects.filter(organisation=organisation).count()
            if taken >= endpoints.MAX_ENDPOINTS:
                self.add_error(
                    "organisation",
                    gettext("An organisation has at most %(n)s webhook endpoints.")
                    % {"n": endpoints.MAX_ENDPOINTS},
                )
        return data


def _show_secret(request, endpoint: WebhookEndpoint, secret: str) -> None:
    messages.warning(
        request,
        gettext(
            "Copy the signing secret of %(endpoint)s now; it will not be shown again. Give it "
            "to %(org)s through a safe channel: %(secret)s"
        )
        % {"endpoint": endpoint, "org": endpoint.organisation, "secret": secret},
    )


@admin.action(description=_("Rotate the signing secret of the selected endpoints"))
def rotate_secrets(modeladmin, request, queryset):
    for endpoint in queryset.select_related("organisation"):
        _show_secret(
            request,
            endpoint,
            endpoints.endpoint_rotate_secret(endpoint=endpoint, actor=request.user),
        )


@admin.action(description=_("Disable the selected endpoints"))
def disable_endpoints(modeladmin, request, queryset):
    n = 0
    for endpoint in queryset.filter(is_active=True):
        endpoints.endpoint_update(endpoint=endpoint, actor=request.user, is_active=False)
        n += 1
    modeladmin.message_user(request, gettext("%(n)d endpoints were disabled.") % {"n": n})


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(RegionScopedAdminMixin, NoAdminLogMixin, admin.ModelAdmin):
    """Supervisors register an organisation's endpoints here; the secret is shown once."""

    form = EndpointForm
    list_display = [
        "__str__",
        "organisation",
        "url",
        "event_list",
        "is_active",
        "created_at",
        "delivery_log",
    ]
    list_filter = ["is_active"]
    list_select_related = ["organisation"]
    actions = [rotate_secrets, disable_endpoints]

    @admin.display(description=_("events"))
    def event_list(self, obj):
        labels = dict(EventType.choices)
        return ", ".join(str(labels.get(e, e)) for e in obj.events or [])

    @admin.display(description=_("delivery log"))
    def delivery_log(self, obj):
        if obj.pk is None:
            return "-"
        url = reverse("admin:notifications_webhookdelivery_changelist")
        return format_html(
            '<a href="{}?endpoint__id__exact={}">{}</a>', url, obj.pk, gettext("Deliveries")
        )

    def has_module_permission(self, request):
        return _supervisor(request)

    def has_view_permission(self, request, obj=None):
        return _supervisor(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return _supervisor(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return _supervisor(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # disabled, never deleted: the delivery log stays

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organisation", "url", "description", "events"]
        return [
            "organisation",
            "url",
            "description",
            "events",
            "is_active",
            "created_by",
            "created_at",
            "secret_rotated_at",
            "delivery_log",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fixed = ["organisation", "created_by", "created_at", "secret_rotated_at", "delivery_log"]
        if not self.has_change_permission(request, obj):
            return [*fixed, "url", "description", "events", "is_active"]
        return fixed

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                saved = endpoints.endpoint_update(
                    endpoint=obj,
                    actor=request.user,
                    url=data["url"],
                    events=data["events"],
                    description=data["description"],
                    is_active=data["is_active"],
                )
            else:
                saved, secret = endpoints.endpoint_register(
                    actor=request.user,
                    organisation=data["organisation"],
                    url=data["url"],
                    events=data["events"],
                    description=data["description"],
                )
                _show_secret(request, saved, secret)
        except ApplicationError as exc:
            # Rare: a concurrent change beat the form's checks. Nothing was written.
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:  # the service refused (message shown): back to the list
            return HttpResponseRedirect(reverse("admin:notifications_webhookendpoint_changelist"))
        return super().response_add(request, obj, post_url_continue)


class DeliveryStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Status.choices

    def queryset(self, request, queryset):
        if self.value() in Status.values:
            return queryset.filter(outbox__status=self.value())
        return queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(
    RegionScopedAdminMixin, ReadOnlyAdminMixin, ReadAuditedMixin, NoAdminLogMixin, admin.ModelAdmin
):
    """The delivery log of organisations' endpoints: each event to each endpoint, its
    attempts (status, time, error) and a replay button. Scoped by the endpoint's
    organisation; read by supervisors."""

    region_scope = "endpoint__organisation"
    list_display = [
        "created_at",
        "event_type",
        "event_id",
        "endpoint",
        "organisation",
        "status",
        "attempts",
        "last_error",
        "sent_at",
    ]
    list_filter = [DeliveryStatusFilter, "event_type"]
    list_select_related = ["endpoint__organisation", "outbox"]
    fields = [
        "event_type",
        "event_id",
        "endpoint",
        "organisation",
        "status",
        "attempts",
        "next_attempt",
        "last_error",
        "created_at",
        "sent_at",
        "idempotency_key",
        "payload",
        "attempt_log",
    ]
    readonly_fields = fields
    change_form_template = "admin/notifications/webhookdelivery/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("endpoint__organisation", "outbox")

    @admin.display(description=_("organisation"), ordering="endpoint__organisation__name")
    def organisation(self, obj):
        return obj.endpoint.organisation

    @admin.display(description=_("status"), ordering="outbox__status")
    def status(self, obj):
        return obj.outbox.get_status_display()

    @admin.display(description=_("attempts"))
    def attempts(self, obj):
        return obj.outbox.attempts

    @admin.display(description=_("next attempt at"))
    def next_attempt(self, obj):
        if obj.outbox.status != Status.PENDING or obj.outbox.next_attempt_at is None:
            return "-"
        # In the desk's time zone and format, as the admin shows every other time.
        return date_format(timezone.localtime(obj.outbox.next_attempt_at), "DATETIME_FORMAT")

    @admin.display(description=_("last error"))
    def last_error(self, obj):
        return obj.outbox.last_error or "-"

    @admin.display(description=_("sent at"))
    def sent_at(self, obj):
        return obj.outbox.sent_at or "-"

    @admin.display(description=_("Idempotency-Key"))
    def idempotency_key(self, obj):
        return obj.outbox.key

    @admin.display(description=_("payload"))
    def payload(self, obj):
        return format_html("<pre>{}</pre>", obj.outbox.body)

    @admin.display(description=_("attempts"))
    def attempt_log(self, obj):
        return _attempt_table(obj.outbox)

    def has_module_permission(self, request):
        return _supervisor(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _supervisor(request) and super().has_view_permission(request, obj)

    def may_replay(self, request) -> bool:
        return self.has_view_permission(request) and request.user.has_perm(
            "notifications.replay_webhookdelivery"
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/replay/",
                self.admin_site.admin_view(self.replay_view),
                name="notifications_webhookdelivery_replay",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"can_replay": self.may_replay(request)}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def replay_view(self, request, pk):
        """POST only (the button's form, with its CSRF token): send the delivery again."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.may_replay(request):
            raise PermissionDenied
        delivery = self.get_object(request, str(pk))  # 404 (audited) outside the user's scope
        if delivery is None:
            raise Http404
        back = reverse("admin:notifications_webhookdelivery_change", args=[delivery.pk])
        try:
            services.delivery_replay(delivery=delivery, actor=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, gettext("The delivery was queued again: its attempts are shown below.")
            )
        return HttpResponseRedirect(back)
