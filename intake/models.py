"""Calls reported by the phone system. The caller's number is personal data: encrypted at
rest, found again by its blind index, never written to logs or the audit chain."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.fields import BlindIndexField, EncryptedCharField


class Call(models.Model):
    call_id = models.CharField(_("call id"), max_length=100, unique=True)
    # The line (a region's hotline: "east" is the status component "hotline-east").
    line = models.SlugField(_("line"), max_length=50)
    caller = EncryptedCharField(_("caller number"), max_length=40, blank=True)
    caller_bidx = BlindIndexField(
        source="caller", kind="phone", verbose_name=_("caller blind index")
    )
    started_at = models.DateTimeField(_("started"), db_index=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    abandoned = models.BooleanField(_("abandoned"), default=False)
    # What the desk did for a missed caller while the line was down or overloaded.
    sms_sent = models.BooleanField(default=False)
    callback_ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("callback ticket"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        indexes = [models.Index(fields=["line", "started_at"], name="intake_call_line_started")]

    def __str__(self) -> str:
        return f"{self.line} {self.call_id}"

    @property
    def missed(self) -> bool:
        return self.answered_at is None and (self.abandoned or self.ended_at is not None)
