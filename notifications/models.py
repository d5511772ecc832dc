"""The outbox: one row per delivery, written in the same transaction as the change it reports."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedCharField, EncryptedTextField


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WECOM = "wecom", _("WeCom")
    WECHAT = "wechat", _("WeChat")
    WEBHOOK = "webhook", _("Signed webhook")
    PUSH = "push", _("Browser notification")


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
