"""How bad a fault is for the customer, and the rules that turn it into a priority.

The rules are data, not code: supervisors keep them in the admin, so a plant's view of what
"production stopped" costs can change without a release. A data migration creates the
defaults (tickets/migrations/0012_fault_impact.py).
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from tickets.models.sla import Priority

# More machines than this is "the whole plant"; a larger number is a typing slip.
MAX_MACHINES = 999


class Production(models.TextChoices):
    """What the fault does to the customer's production, in the customer's words."""

    STOPPED = "stopped", _("Stopped")
    DEGRADED = "degraded", _("Slowed down or poorer quality")
    UNAFFECTED = "unaffected", _("Not affected")


class PriorityRule(models.Model):
    """One line of the priority table: when the impact matches, the ticket gets this priority.

    Rules are tried by position, lowest first; the first that matches decides. An empty
    condition matches anything, so a rule for "a safety risk" alone leaves production empty.
    """

    position = models.PositiveSmallIntegerField(
        _("position"), default=100, help_text=_("Rules are tried from the lowest position up.")
    )
    name = models.CharField(_("name"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100, blank=True)
    production = models.CharField(
        _("production is"),
        max_length=16,
        choices=Production.choices,
        blank=True,
        help_text=_("Empty: any answer, or none."),
    )
    safety_risk = models.BooleanField(
        _("safety risk"),
        null=True,
        blank=True,
        help_text=_("Yes or no to match that answer; unknown: either answer."),
    )
    min_machines = models.PositiveSmallIntegerField(
        _("at least this many machines affected"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_MACHINES)],
        help_text=_("Empty: any number."),
    )
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices)
    notify_supervisor = models.BooleanField(
        _("notify the supervisors"),
        default=False,
        help_text=_("The supervisors of the ticket's queue and region are told at once."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("priority rule")
        verbose_name_plural = _("priority rules")

    def __str__(self) -> str:
        """The name in the reader's language (the Chinese one for a Chinese reader, when set)."""
        language = translation.get_language() or ""
        if language.startswith("zh") and self.name_zh:
            return self.name_zh
        return self.name

    def matches(self, *, production: str, machines: int | None, safety_risk: bool | None) -> bool:
        """Whether a fault report's answers meet every condition this rule sets."""
        if self.production and self.production != production:
            return False
        if self.safety_risk is not None and self.safety_risk != bool(safety_risk):
            return False
        return not (self.min_machines and (machines or 0) < self.min_machines)
