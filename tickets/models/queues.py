"""Queues by region and product line, and the agents who work them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts.models import Region
from equipment.models import ProductLine


class Queue(models.Model):
    """Where tickets wait for an agent. Routing picks the most specific matching queue."""

    name = models.CharField(_("name"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100, blank=True)
    slug = models.SlugField(_("code"), max_length=40, unique=True)
    region = models.ForeignKey(
        Region,
        verbose_name=_("region"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text=_("Empty: any region."),
    )
    product_line = models.CharField(
        _("product line"),
        max_length=16,
        choices=ProductLine.choices,
        blank=True,
        help_text=_("Empty: any product line."),
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("supervisor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="supervised_queues",
        limit_choices_to={"is_staff": True},
    )
    agents = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="QueueMember",
        related_name="queues",
        blank=True,
        verbose_name=_("agents"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Zendesk's rule: whoever answers an unassigned ticket owns it, so it cannot sit answered
    # but unowned. A queue worked as a pool (e.g. a first-line triage desk) can turn it off.
    assign_on_reply = models.BooleanField(
        _("assign on reply"),
        default=True,
        help_text=_(
            "A public reply to an unassigned ticket assigns it to the agent who replied, "
            "if that agent is a member of this queue."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("queue")
        verbose_name_plural = _("queues")

    def __str__(self) -> str:
        """The name in the reader's language (the Chinese one for a Chinese reader, when set)."""
        language = translation.get_language() or ""
        if language.startswith("zh") and self.name_zh:
            return self.name_zh
        return self.name


class QueueMember(models.Model):
    """An agent in a queue; inactive members get no automatic assignments."""

    queue = models.ForeignKey(
        Queue, on_delete=models.CASCADE, related_name="members", verbose_name=_("queue")
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="queue_memberships",
        limit_choices_to={"is_staff": True},
        verbose_name=_("agent"),
    )
    is_active = models.BooleanField(_("takes new tickets"), default=True)
    last_assigned_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("last assigned at")
    )

    class Meta:
        verbose_name = _("queue member")
        verbose_name_plural = _("queue members")
        constraints = [
            models.UniqueConstraint(fields=["queue", "agent"], name="queue_member_unique")
        ]

    def __str__(self) -> str:
        return _("%(queue)s / agent %(agent)s") % {"queue": self.queue, "agent": self.agent_id}


class AgentLoad(models.Model):
    """How many active tickets an agent holds, kept by the ticket services.

    Automatic assignment reads it instead of counting every member's tickets on each new
    ticket. Services adjust it with F() in the transaction that changes an assignee or moves
    a ticket in or out of the active statuses; `agent_loads_rebuild` recounts it (hourly from
    beat) so any drift heals.
    """

    agent = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="ticket_load",
    )
    open_tickets = models.IntegerField(default=0)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"agent {self.agent_id}: {self.open_tickets} open tickets"
