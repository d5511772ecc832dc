"""The outbox: one row per delivery, written in the same transaction as the change it reports."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, User
from core.fields import EncryptedCharField, EncryptedTextField


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WECOM = "wecom", _("WeCom")
    WECHAT = "wechat", _("WeChat")
    WEBHOOK = "webhook", _("Signed webhook")
    PUSH = "push", _("Browser notification")
    # An event of an organisation's object (a ticket), written in the business transaction;
    # its delivery fans it out into one ORG_WEBHOOK row per subscribed endpoint.
    ORG_EVENT = "org_event", _("Organisation event")
    ORG_WEBHOOK = "org_webhook", _("Organisation webhook")


class Status(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Outbox(models.Model):
    """A message waiting to be delivered, or the record that it was.

    `key` is unique per delivery: enqueuing the same key twice gives one row, and a task
    that runs twice finds the row already sent and does nothing.
    """

    key = models.CharField(max_length=200, unique=True, verbose_name=_("idempotency key"))
    channel = models.CharField(max_length=16, choices=Channel.choices, verbose_name=_("channel"))
    recipient = EncryptedCharField(max_length=320, verbose_name=_("recipient"))
    subject = EncryptedCharField(max_length=300, blank=True, verbose_name=_("subject"))
    body = EncryptedTextField(verbose_name=_("body"))
    language = models.CharField(max_length=8, default="en", verbose_name=_("language"))
    # Extra e-mail headers (In-Reply-To, References, Reply-To: the ticket's thread), names
    # checked by notifications.messages.
    headers = models.JSONField(default=dict, blank=True, verbose_name=_("e-mail headers"))
    about_type = models.CharField(max_length=64, blank=True, verbose_name=_("about (type)"))
    about_id = models.CharField(max_length=64, blank=True, verbose_name=_("about (ID)"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status")
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(default=timezone.now, verbose_name=_("next attempt at"))
    last_error = models.CharField(max_length=200, blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    # E-mail only: the Message-ID, chosen when the row is written (so a retry sends the same
    # one, and a customer's answer quoting it in In-Reply-To finds what it answers).
    message_id = models.CharField(
        max_length=250, blank=True, db_index=True, verbose_name=_("Message-ID")
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx")]
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")

    def __str__(self) -> str:
        return f"{self.channel} #{self.pk} ({self.status})"


class PushSubscription(models.Model):
    """A browser's web push subscription of a customer. The endpoint and keys identify the
    browser: encrypted at rest; the endpoint's hash keeps one row per browser."""

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = EncryptedTextField(_("endpoint"))
    endpoint_hash = models.CharField(max_length=64, unique=True)
    p256dh = EncryptedCharField(max_length=200)
    auth = EncryptedCharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("browser subscription")
        verbose_name_plural = _("browser subscriptions")

    def __str__(self) -> str:
        return f"push subscription {self.pk} of user {self.user_id}"


class EventType(models.TextChoices):
    """What an organisation's webhook endpoints may subscribe to (docs/webhooks.md)."""

    TICKET_OPENED = "ticket.opened", _("Ticket opened")
    TICKET_ANSWERED = "ticket.answered", _("Ticket answered by the service desk")
    TICKET_STATUS_CHANGED = "ticket.status_changed", _("Ticket status changed")
    TICKET_RESOLVED = "ticket.resolved", _("Ticket resolved")


class WebhookEndpoint(models.Model):
    """A URL of an organisation's own system (a partner's) that receives its events, signed.

    The signing secret is random, encrypted at rest and shown once, when the endpoint is
    registered or its secret rotated (notifications.endpoints). The URL is the organisation's
    system, not a person's, and needed in clear to deliver; it is checked like every customer
    URL (core.net: https, public addresses) when saved and again at each delivery.
    """

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("organisation"),
    )
    # Checked by core.net (https, public addresses), not by URLField: one rule for every URL.
    url = models.CharField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=100, blank=True)
    events = models.JSONField(_("events"), default=list, blank=True)
    secret = EncryptedCharField(_("signing secret"), max_length=100, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    secret_rotated_at = models.DateTimeField(
        _("secret rotated at"), null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["organisation", "pk"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.description or f"webhook endpoint {self.pk}"

    def wants(self, event_type: str) -> bool:
        return self.is_active and event_type in (self.events or [])


class WebhookDelivery(models.Model):
    """One event to one endpoint: its outbox row (status, attempts) and what it carries.

    The delivery log supervisors read (scoped by the endpoint's organisation) and replay.
    """

    # DO_NOTHING: services._outbox_delete deletes the log first, so deleting outbox rows
    # (retention, erasure) stays one statement that reads no row into memory.
    outbox = models.OneToOneField(
        Outbox,
        on_delete=models.DO_NOTHING,
        related_name="webhook_delivery",
        verbose_name=_("outbox"),
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("endpoint"),
    )
    event_type = models.CharField(
        _("event"), max_length=40, choices=EventType.choices, db_index=True
    )
    event_id = models.CharField(_("event ID"), max_length=40, db_index=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        permissions = [("replay_webhookdelivery", _("Can replay a webhook delivery"))]

    def __str__(self) -> str:
        return f"{self.get_event_type_display()} ({self.event_id})"


class WebhookAttempt(models.Model):
    """One try at delivering a signed webhook (a customer's or an organisation's endpoint):
    when, how long, the receiver's HTTP status or why there was none. No body, no address."""

    outbox = models.ForeignKey(
        Outbox,
        on_delete=models.DO_NOTHING,  # as WebhookDelivery.outbox
        related_name="webhook_attempts",
        verbose_name=_("outbox"),
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=200, blank=True)

    class Meta:
        ordering = ["outbox", "at", "pk"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")

    def __str__(self) -> str:
        return f"attempt {self.number} of outbox {self.outbox_id}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
