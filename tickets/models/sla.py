"""SLA policies per contract tier and priority, escalation rules, and the timers they set."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Tier
from tickets.models.calendars import BusinessCalendar
from tickets.models.queues import Queue


class Priority(models.IntegerChoices):
    P1 = 1, _("P1 – production stopped")
    P2 = 2, _("P2 – production impaired")
    P3 = 3, _("P3 – normal")
    P4 = 4, _("P4 – low")


class Clock(models.TextChoices):
    BUSINESS = "business", _("Business hours")
    CALENDAR = "calendar", _("Around the clock")


class Target(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_REPLY = "next_reply", _("Next reply")
    RESOLUTION = "resolution", _("Resolution")


class SLAPolicy(models.Model):
    """Targets for one contract tier and priority, counted in business or calendar time."""

    name = models.CharField(_("name"), max_length=100)
    tier = models.CharField(_("contract tier"), max_length=16, choices=Tier.choices)
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices)
    clock = models.CharField(
        _("clock"), max_length=8, choices=Clock.choices, default=Clock.BUSINESS
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("business calendar"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text=_("Required for business-hours policies."),
    )
    first_response_minutes = models.PositiveIntegerField(
        _("first response within (minutes)"), validators=[MinValueValidator(1)]
    )
    next_reply_minutes = models.PositiveIntegerField(
        _("next reply within (minutes)"), validators=[MinValueValidator(1)]
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution within (minutes)"), validators=[MinValueValidator(1)]
    )
    warning_percent = models.PositiveSmallIntegerField(
        _("warn at (percent of the target)"),
        default=75,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
    )

    class Meta:
        ordering = ["tier", "priority"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        constraints = [
            models.UniqueConstraint(fields=["tier", "priority"], name="sla_policy_unique")
        ]

    def __str__(self) -> str:
        return self.name

    def minutes_for(self, target: str) -> int:
        return getattr(self, f"{target}_minutes")


class EscalationRule(models.Model):
    """What happens when a ticket has used a share of a target: a level of escalation."""

    policy = models.ForeignKey(
        SLAPolicy, on_delete=models.CASCADE, related_name="rules", verbose_name=_("policy")
    )
    target = models.CharField(_("target"), max_length=16, choices=Target.choices)
    percent = models.PositiveSmallIntegerField(
        _("at (percent of the target)"), validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    level = models.PositiveSmallIntegerField(_("level"), default=1)
    notify_assignee = models.BooleanField(_("notify the assignee"), default=True)
    notify_supervisor = models.BooleanField(_("notify the queue's supervisor"), default=False)
    raise_priority = models.BooleanField(_("raise the priority by one"), default=False)
    reassign_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reassign to"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"is_staff": True},
    )
    move_to_queue = models.ForeignKey(
        Queue,
        verbose_name=_("move to queue"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["policy", "target", "percent"]
        verbose_name = _("escalation rule")
        verbose_name_plural = _("escalation rules")
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "target", "percent"], name="escalation_rule_unique"
            )
        ]

    def __str__(self) -> str:
        return f"L{self.level} {self.get_target_display()} @ {self.percent}%"


class TimerKind(models.TextChoices):
    WARNING = "warning", _("Warning")
    BREACH = "breach", _("Breach")
    RULE = "rule", _("Escalation rule")


# The ticket field holding each target's highest fired threshold.
FIRED_FIELD = {
    Target.FIRST_RESPONSE: "first_response_fired",
    Target.NEXT_REPLY: "next_reply_fired",
    Target.RESOLUTION: "resolution_fired",
}


class SLATimer(models.Model):
    """A moment at which a ticket's target passes a threshold; the scan fires due timers.

    Every row is pending: the scan deletes a timer when it fires it (a delete writes no index
    entry, unlike an update) and raises the ticket's mark of the highest threshold fired
    (`Ticket.<target>_fired`). Timers are
    rewritten whenever the due times change (pause, resume, priority), so one indexed range
    query finds everything that is due, whatever the number of open tickets.
    """

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="timers")
    target = models.CharField(max_length=16, choices=Target.choices)
    kind = models.CharField(max_length=8, choices=TimerKind.choices)
    percent = models.PositiveSmallIntegerField()
    rule = models.ForeignKey(EscalationRule, on_delete=models.CASCADE, null=True, blank=True)
    fire_at = models.DateTimeField()

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["fire_at"], name="sla_timer_due_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "target", "kind", "percent"], name="sla_timer_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.target} {self.kind} {self.percent}% at {self.fire_at:%Y-%m-%d %H:%M}"
