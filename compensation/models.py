"""Compensation: policies (data, kept by supervisors), assessments of an event, and grants.

An event is a resolved incident or a P1/P2 ticket that broke its resolution target. An
assessment of it finds the affected organisations and proposes grants by policy; a supervisor
approves or rejects each; approved grants are applied through the owning apps (a unit's
warranty end, a voucher, the organisation's priority service) and can be reversed.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, Tier


class EventKind(models.TextChoices):
    INCIDENT = "incident", _("Incident")
    TICKET_BREACH = "ticket_breach", _("Resolution breach on a P1 or P2 ticket")


class Policy(models.Model):
    """Which events qualify, who counts as affected, and what each contract tier gets."""

    name = models.CharField(_("name"), max_length=120)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(
        _("position"),
        default=0,
        help_text=_("When several policies match, the first one gives each kind of grant."),
    )
    event = models.CharField(_("event"), max_length=16, choices=EventKind.choices)
    # Incidents: this severity rank or graver (1 is the gravest), lasting at least this long.
    max_severity_rank = models.PositiveSmallIntegerField(
        _("severity rank up to"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(9)],
        help_text=_("Incidents of this rank or graver qualify (1 = SEV1)."),
    )
    min_duration_minutes = models.PositiveIntegerField(
        _("lasting at least (minutes)"), default=60, validators=[MaxValueValidator(60 * 24 * 30)]
    )
    # Ticket breaches: this priority or higher (1 = P1).
    max_priority = models.PositiveSmallIntegerField(
        _("priority up to"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(2)],
        help_text=_("Breached tickets of this priority or higher qualify (1 = P1, 2 = P2)."),
    )
    # Who counts as affected by an incident.
    affects_contacts = models.BooleanField(
        _("customers who contacted us during the outage"),
        default=True,
        help_text=_("Tickets, calls or chats inside the outage window in the affected regions."),
    )
    affects_units = models.BooleanField(
        _("customers with units in the affected regions"), default=False
    )
    created_at = models.DateTimeField(
        default=timezone.now, editable=False, verbose_name=_("created at")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("compensation policy")
        verbose_name_plural = _("compensation policies")

    def __str__(self) -> str:
        return self.name


class PolicyTier(models.Model):
    """What one contract tier gets under a policy; zero means none of that kind."""

    policy = models.ForeignKey(
        Policy, on_delete=models.CASCADE, related_name="tiers", verbose_name=_("policy")
    )
    tier = models.CharField(_("contract tier"), max_length=16, choices=Tier.choices)
    warranty_days_per_hour = models.DecimalField(
        _("warranty days per outage hour"),
        max_digits=6,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(365)],
    )
    warranty_days_max = models.PositiveSmallIntegerField(
        _("warranty days at most"), default=0, validators=[MaxValueValidator(3650)]
    )
    voucher_value = models.DecimalField(
        _("maintenance voucher value (CNY)"),
        max_digits=10,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(1_000_000)],
    )
    voucher_valid_days = models.PositiveSmallIntegerField(
        _("voucher valid for (days)"),
        default=365,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    priority_days = models.PositiveSmallIntegerField(
        _("priority service (days)"), default=0, validators=[MaxValueValidator(365)]
    )

    class Meta:
        ordering = ["policy", "tier"]
        verbose_name = _("tier's compensation")
        verbose_name_plural = _("tiers' compensation")
        constraints = [
            models.UniqueConstraint(fields=["policy", "tier"], name="policy_tier_unique")
        ]

    def __str__(self) -> str:
        return f"{self.policy} / {self.get_tier_display()}"


class Assessment(models.Model):
    """One event assessed: the window, the hours, and when it was (last) run."""

    key = models.CharField(
        max_length=64, unique=True, editable=False, verbose_name=_("deduplication key")
    )  # incident:12, ticket:5
    event = models.CharField(_("event"), max_length=16, choices=EventKind.choices)
    incident = models.ForeignKey(
        "status.Incident",
        verbose_name=_("incident"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("ticket"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    window_start = models.DateTimeField(_("window start"))
    window_end = models.DateTimeField(_("window end"))
    hours = models.DecimalField(_("hours"), max_digits=8, decimal_places=2)
    runs = models.PositiveIntegerField(_("runs"), default=0)
    assessed_at = models.DateTimeField(_("last assessed"), default=timezone.now)
    assessed_by = models.CharField(_("assessed by"), max_length=64)

    class Meta:
        ordering = ["-assessed_at"]
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")

    def __str__(self) -> str:
        if self.incident_id:
            return _("Incident #%(n)s") % {"n": self.incident_id}
        return _("Ticket #%(n)s") % {"n": self.ticket_id}


class GrantKind(models.TextChoices):
    WARRANTY = "warranty", _("Warranty extension")
    VOUCHER = "voucher", _("Maintenance voucher")
    PRIORITY = "priority", _("Priority service")


class GrantStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    APPLIED = "applied", _("Approved and applied")
    REJECTED = "rejected", _("Rejected")
    REVERSED = "reversed", _("Reversed")


class Grant(models.Model):
    """One kind of compensation for one organisation for one event, with why."""

    assessment = models.ForeignKey(
        Assessment, on_delete=models.PROTECT, related_name="grants", verbose_name=_("assessment")
    )
    policy = models.ForeignKey(
        Policy, on_delete=models.PROTECT, related_name="grants", verbose_name=_("policy")
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=GrantKind.choices)
    tier = models.CharField(_("contract tier"), max_length=16, choices=Tier.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=GrantStatus.choices, default=GrantStatus.PROPOSED
    )
    days = models.PositiveSmallIntegerField(_("days"), default=0)  # warranty or priority
    amount = models.DecimalField(_("value (CNY)"), max_digits=10, decimal_places=2, default=0)
    valid_days = models.PositiveSmallIntegerField(_("voucher valid for (days)"), default=0)
    # Why: references only (ticket numbers, unit serials, counts), never personal data.
    evidence = models.JSONField(_("why"), default=dict)
    # The units a warranty extension applies to.
    unit_ids = models.JSONField(default=list, editable=False, verbose_name=_("machines (unit IDs)"))
    created_at = models.DateTimeField(_("proposed at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.CharField(_("reason"), max_length=300, blank=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reversed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    reversal_reason = models.CharField(_("reason for the reversal"), max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("grant")
        verbose_name_plural = _("grants")
        permissions = [("decide_grant", _("Can approve, reject and reverse compensation"))]
        constraints = [
            # An event gives an organisation at most one grant of each kind.
            models.UniqueConstraint(
                fields=["assessment", "organisation", "kind"], name="grant_once_per_event"
            )
        ]
        indexes = [
            models.Index(fields=["assessment", "status"], name="grant_assessment_status"),
            models.Index(fields=["organisation", "-created_at"], name="grant_org_created"),
            models.Index(fields=["status", "applied_at"], name="grant_status_applied"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def source(self) -> str:
        """How the owning apps know this grant (the same source never applies twice)."""
        return f"compensation.grant:{self.pk}"


def voucher_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
    body = "".join(secrets.choice(alphabet) for _ in range(12))
    return f"WD-{body[:4]}-{body[4:8]}-{body[8:]}"


class VoucherStatus(models.TextChoices):
    ISSUED = "issued", _("Issued")
    REDEEMED = "redeemed", _("Redeemed")
    VOID = "void", _("Void")


class Voucher(models.Model):
    """A maintenance-package voucher issued by an approved grant."""

    grant = models.OneToOneField(
        Grant, on_delete=models.PROTECT, related_name="voucher", verbose_name=_("grant")
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(_("code"), max_length=20, unique=True, default=voucher_code)
    value = models.DecimalField(_("value (CNY)"), max_digits=10, decimal_places=2)
    expires_on = models.DateField(_("expires on"))
    status = models.CharField(
        _("status"), max_length=16, choices=VoucherStatus.choices, default=VoucherStatus.ISSUED
    )
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)
    voided_at = models.DateTimeField(_("void since"), null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")

    def __str__(self) -> str:
        return self.code
