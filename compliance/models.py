"""Data subjects: the people the desk holds data about, as compliance officers see them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User


class DataSubject(User):
    """A person, in the compliance officers' screens (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("data subject")
        verbose_name_plural = _("data subjects")
        default_permissions = ("view",)
        permissions = [("export_datasubject", _("Can export a person's data"))]


class ErasureStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    REJECTED = "rejected", _("Rejected")
    DONE = "done", _("Carried out")


class ErasureRequest(models.Model):
    """A person's request to be forgotten, reviewed by a compliance officer."""

    subject = models.ForeignKey(
        User, verbose_name=_("person"), on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(
        User, verbose_name=_("requested by"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ErasureStatus.choices, default=ErasureStatus.REQUESTED
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    reviewed_by = models.ForeignKey(
        User,
        verbose_name=_("reviewed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.CharField(_("review note"), max_length=300, blank=True)
    # Counts of what was erased, per app (no personal data).
    summary = models.JSONField(_("what was erased"), default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("erasure request")
        verbose_name_plural = _("erasure requests")
        default_permissions = ("view",)
        permissions = [("review_erasurerequest", _("Can review and carry out erasures"))]
        constraints = [
            models.UniqueConstraint(
                fields=["subject"],
                condition=models.Q(status="requested"),
                name="one_open_erasure_request",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} user:{self.subject_id} {self.status}"
