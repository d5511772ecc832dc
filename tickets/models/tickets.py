"""Tickets, their conversation, fault reports, attachments, canned responses and surveys."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, Tier
from core.fields import EncryptedCharField, EncryptedTextField
from core.malware import ScanStatus
from core.models import TimeStampedModel
from equipment.models import FaultCode, Unit
from tickets.models.impact import MAX_MACHINES, Production
from tickets.models.queues import Queue
from tickets.models.sla import Priority, SLAPolicy


class Kind(models.TextChoices):
    FAULT = "fault", _("Fault")
    SHIPPING = "shipping", _("Shipping")
    QUESTION = "question", _("Question")
    COMPLAINT = "complaint", _("Complaint")
    CALLBACK = "callback", _("Callback")


class Channel(models.TextChoices):
    PORTAL = "portal", _("Portal")
    EMAIL = "email", _("Email")
    CHAT = "chat", _("Live chat")
    PHONE = "phone", _("Phone")
    WECOM = "wecom", _("WeCom / WeChat")
    API = "api", _("Partner API")
    CALLBACK = "callback", _("Callback request")
    AGENT = "agent", _("Entered by an agent")
    MACHINE = "machine", _("Machine alarm")


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    WAITING = "waiting", _("Waiting on customer")
    ON_HOLD = "on_hold", _("On hold")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


# Statuses in which the SLA clock runs; in the others it is paused or stopped.
RUNNING_STATUSES = (Status.NEW, Status.OPEN)
PAUSED_STATUSES = (Status.WAITING, Status.ON_HOLD)
ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING, Status.ON_HOLD)


class Tag(models.Model):
    name = models.SlugField(_("name"), max_length=40, unique=True, allow_unicode=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class TicketCounter(models.Model):
    """The last reference number issued in a year (WD-2026-000123)."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Ticket(TimeStampedModel):
    """A customer's request. State changes only through tickets.services."""

    # Set by the opening service (its clock, which tests and imports may fix), not auto_now_add.
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("created at")
    )
    reference = models.CharField(_("reference"), max_length=20, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="tickets",
        db_index=False,  # ticket_org_idx (organisation, status, -created_at) covers it
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requester"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requested_tickets",
    )
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("unit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.FAULT)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.P3
    )
    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.PORTAL
    )
    queue = models.ForeignKey(
        Queue,
        verbose_name=_("queue"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        db_index=False,  # ticket_queue_idx (queue, status, priority) covers it
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        db_index=False,  # ticket_assignee_idx (assignee, status) covers it
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="tickets")
    subject = models.CharField(_("subject"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged",
        verbose_name=_("merged into"),
    )

    # The SLA: policy in force, due times, and what became of each target.
    sla_policy = models.ForeignKey(
        SLAPolicy,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("SLA policy"),
    )
    contract_tier = models.CharField(
        _("contract tier"), max_length=16, blank=True, choices=Tier.choices
    )
    first_response_due = models.DateTimeField(_("first response due"), null=True, blank=True)
    next_reply_due = models.DateTimeField(_("next reply due"), null=True, blank=True)
    resolution_due = models.DateTimeField(_("resolution due"), null=True, blank=True)
    sla_paused_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("SLA paused at")
    )
    # The due time of the nearest running target, None while the clock is stopped (paused,
    # resolved, closed) or without an SLA: what the ticket list sorts by (most urgent first,
    # overdue on top). Kept by tickets.services.sla.next_due on every save of the services.
    sla_next_due = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("next SLA due")
    )
    # Signed seconds left per target when the clock stopped (negative: overdue by that much).
    sla_remaining = models.JSONField(
        default=dict, blank=True, editable=False, verbose_name=_("SLA time remaining")
    )
    # Per target, the highest threshold (percent of the budget) that has fired. The scan
    # deletes a timer when it fires it and raises this mark instead; a rebuilt clock (resume,
    # new priority) skips every threshold at or below it, so none fires twice.
    first_response_fired = models.PositiveSmallIntegerField(
        default=0, editable=False, verbose_name=_("first-response escalation fired")
    )
    next_reply_fired = models.PositiveSmallIntegerField(
        default=0, editable=False, verbose_name=_("next-reply escalation fired")
    )
    resolution_fired = models.PositiveSmallIntegerField(
        default=0, editable=False, verbose_name=_("resolution escalation fired")
    )
    first_responded_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    first_response_met = models.BooleanField(_("first response met"), null=True, blank=True)
    next_reply_breached = models.BooleanField(_("a next reply was late"), default=False)
    resolution_met = models.BooleanField(_("resolution met"), null=True, blank=True)
    sla_warning = models.BooleanField(_("SLA warning"), default=False)
    sla_breached = models.BooleanField(_("SLA breached"), default=False)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    priority_until = models.DateTimeField(
        _("priority service until"), null=True, blank=True, editable=False
    )

    last_customer_message_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("last customer message at")
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # How often the ticket went from Resolved back to Open (a customer's reply or reopen, or
    # an agent's), and when it last did: a reopen clears resolved_at, so without these the
    # reopen rate report could not tell a resolution that held from one that did not. Kept by
    # tickets.services.tickets._apply_status; reopens before migration 0013 are not counted.
    reopened_count = models.PositiveIntegerField(
        _("times reopened"), default=0, db_default=0, editable=False
    )
    reopened_at = models.DateTimeField(_("last reopened at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [
            models.Index(fields=["organisation", "status", "-created_at"], name="ticket_org_idx"),
            # A customer's tickets of every state newest first (the portal's "all", the API):
            # a page at any depth is a walk of this index (ticket_org_idx orders by status).
            models.Index(
                fields=["organisation", "-created_at", "-id"], name="ticket_org_newest_idx"
            ),
            models.Index(fields=["queue", "status", "priority"], name="ticket_queue_idx"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            models.Index(fields=["status", "resolution_due"], name="ticket_due_idx"),
            # The list's urgency order (tickets.selectors.URGENCY): ASC NULLS LAST, then the key.
            models.Index(fields=["sla_next_due", "id"], name="ticket_next_due_idx"),
            # The agents' home (tickets.home_selectors): an agent's and a queue's active
            # tickets, most urgent first, read five at a time from the index at any workload.
            models.Index(
                fields=["assignee", "sla_next_due", "id"],
                name="ticket_assignee_due_idx",
                condition=models.Q(status__in=ACTIVE_STATUSES),
            ),
            models.Index(
                fields=["queue", "sla_next_due", "id"],
                name="ticket_queue_due_idx",
                condition=models.Q(status__in=ACTIVE_STATUSES),
            ),
            # Callbacks waiting, most urgent first: few, so a small index serves the block.
            models.Index(
                fields=["sla_next_due", "id"],
                name="ticket_callback_due_idx",
                condition=models.Q(status__in=ACTIVE_STATUSES, channel=Channel.CALLBACK),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class Message(models.Model):
    """One entry in a ticket's conversation: a public reply or an internal note."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ticket_messages",
    )
    from_customer = models.BooleanField(default=False)
    internal = models.BooleanField(_("internal note"), default=False)
    body = EncryptedTextField(_("message"))
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.PORTAL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The body was replaced by a placeholder (erasure or retention).
    erased = models.BooleanField(default=False, db_default=False, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [models.Index(fields=["ticket", "created_at"], name="message_ticket_idx")]

    def __str__(self) -> str:
        return f"message {self.pk} on {self.ticket_id}"

    @property
    def channel_label(self) -> str:
        """The channel's name in the reader's language. Django's get_channel_display builds a
        dict of every choice on each call, translating each label: a fifth of a millisecond
        a message on a ticket page showing fifty."""
        try:
            return str(Channel(self.channel).label)
        except ValueError:  # a channel retired from the choices: its stored value
            return self.channel


class ShieldingGas(models.TextChoices):
    ARGON = "argon", _("Argon")
    NITROGEN = "nitrogen", _("Nitrogen")
    HELIUM = "helium", _("Helium")
    MIXED = "mixed", _("Mixed gas")
    NONE = "none", _("None")


class Material(models.TextChoices):
    CARBON_STEEL = "carbon_steel", _("Carbon steel")
    STAINLESS = "stainless", _("Stainless steel")
    ALUMINIUM = "aluminium", _("Aluminium")
    GALVANISED = "galvanised", _("Galvanised steel")
    COPPER = "copper", _("Copper / brass")
    TITANIUM = "titanium", _("Titanium")
    OTHER = "other", _("Other")


def _decimal(name, max_digits=8, places=2, **kwargs):
    return models.DecimalField(
        name,
        max_digits=max_digits,
        decimal_places=places,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        **kwargs,
    )


class FaultReport(models.Model):
    """The structured part of a fault ticket: its impact, the fault code and the welding
    parameters. The impact is empty on reports filed before the form asked for it."""

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="fault_report")
    production = models.CharField(
        _("production"), max_length=16, choices=Production.choices, blank=True
    )
    machines_affected = models.PositiveSmallIntegerField(
        _("machines affected"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_MACHINES)],
    )
    safety_risk = models.BooleanField(_("safety risk"), null=True, blank=True)
    # The rule that set the opening priority (None: no rule matched, or no impact given).
    priority_rule = models.ForeignKey(
        "tickets.PriorityRule",
        verbose_name=_("priority rule"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    fault_code = models.ForeignKey(
        FaultCode, verbose_name=_("fault code"), on_delete=models.PROTECT, null=True, blank=True
    )
    laser_power_w = models.PositiveIntegerField(
        _("laser power (W)"), null=True, blank=True, validators=[MaxValueValidator(100_000)]
    )
    pulse_frequency_hz = _decimal(_("pulse frequency (Hz)"), max_digits=10)
    pulse_width_ms = _decimal(_("pulse width (ms)"), places=3)
    wire_feed_speed_m_min = _decimal(_("wire feed speed (m/min)"))
    shielding_gas = models.CharField(
        _("shielding gas"), max_length=16, choices=ShieldingGas.choices, blank=True
    )
    gas_flow_l_min = _decimal(_("gas flow (L/min)"))
    material = models.CharField(_("material"), max_length=16, choices=Material.choices, blank=True)
    thickness_mm = _decimal(_("thickness (mm)"))
    seam_speed_mm_s = _decimal(_("seam speed (mm/s)"))

    class Meta:
        verbose_name = _("fault report")
        verbose_name_plural = _("fault reports")

    def __str__(self) -> str:
        return f"fault report of {self.ticket_id}"


def attachment_path(instance: Attachment, filename: str) -> str:
    # A random name: the uploaded name is kept (encrypted) only for the download header.
    return f"attachments/{instance.storage_key.hex[:2]}/{instance.storage_key.hex}"


class Attachment(models.Model):
    """A file on a ticket, stored under a random name outside the static roots."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="attachments"
    )
    is_fault_photo = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    storage_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    file = models.FileField(upload_to=attachment_path, max_length=200)
    original_name = EncryptedCharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Served to nobody while PENDING (the scanner could not be reached; scanned again by beat).
    scan_status = models.CharField(
        _("virus scan"), max_length=10, choices=ScanStatus.choices, default=ScanStatus.UNSCANNED
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(scan_status="pending"),
                name="tickets_att_scan_pending",
            )
        ]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return f"attachment {self.pk}"


class CannedResponse(models.Model):
    """A reusable reply with placeholders such as {requester_name} and {reference}."""

    title = models.CharField(_("title"), max_length=120, unique=True)
    title_zh = models.CharField(_("title (Chinese)"), max_length=120, blank=True)
    body_en = models.TextField(_("text (English)"))
    body_zh = models.TextField(_("text (Chinese)"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["title"]
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")

    def __str__(self) -> str:
        return self.title_localized

    @property
    def title_localized(self) -> str:
        """The title in the agent's language (the Chinese one for a Chinese agent, when set)."""
        language = translation.get_language() or ""
        if language.startswith("zh") and self.title_zh:
            return self.title_zh
        return self.title


class Survey(models.Model):
    """A satisfaction survey sent when a ticket is resolved; answered once by a signed link."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="surveys", verbose_name=_("ticket")
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("agent"),
    )
    queue = models.ForeignKey(
        Queue, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("queue")
    )
    nonce = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, verbose_name=_("one-time code")
    )
    rating = models.PositiveSmallIntegerField(
        _("rating"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = EncryptedTextField(_("comment"), blank=True)
    sent_at = models.DateTimeField(auto_now_add=True, verbose_name=_("sent at"))
    answered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("answered at"))

    class Meta:
        ordering = ["-sent_at"]
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")

    def __str__(self) -> str:
        return f"survey {self.pk} of ticket {self.ticket_id}"
