"""Service status: components and their history, incidents with severity grades and playbooks.

A component's status is derived: the worst impact of the published, unresolved incidents that
touch it (and, later, a maintenance window), or operational. Every change is kept in
ComponentStatusChange (from, to, when, who or what, why). The status page's uptime bars take
outages from the incidents' own start and resolution and maintenance from that history.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import BlindIndexField, EncryptedEmailField
from core.translations import in_reader_language, localized


class ComponentStatus(models.TextChoices):
    # In order of gravity: the worst one wins when several incidents touch a component.
    OPERATIONAL = "operational", _("Operational")
    MAINTENANCE = "maintenance", _("Under maintenance")
    DEGRADED = "degraded", _("Degraded performance")
    PARTIAL_OUTAGE = "partial_outage", _("Partial outage")
    MAJOR_OUTAGE = "major_outage", _("Major outage")


GRAVITY = {s: n for n, s in enumerate(ComponentStatus.values)}


class ComponentKind(models.TextChoices):
    HOTLINE = "hotline", _("Hotline")
    CHAT = "chat", _("Online chat")
    EMAIL = "email", _("Email")
    PORTAL = "portal", _("Customer portal")
    PARTNER_API = "partner_api", _("Partner API")
    SERVICE_CENTRE = "service_centre", _("Service centre")
    OTHER = "other", _("Other")


class ComponentGroup(models.Model):
    key = models.SlugField(max_length=50, unique=True, verbose_name=_("identifier"))
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "key"]
        verbose_name = _("component group")
        verbose_name_plural = _("component groups")

    def __str__(self) -> str:
        return localized(self, "name")

    @property
    def name(self) -> str:
        return localized(self, "name")


class Component(models.Model):
    """A way customers reach the desk: a regional hotline, the chat, email, the portal ..."""

    group = models.ForeignKey(
        ComponentGroup,
        verbose_name=_("group"),
        on_delete=models.PROTECT,
        related_name="components",
    )
    key = models.SlugField(max_length=50, unique=True, verbose_name=_("identifier"))
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=ComponentKind.choices)
    # A regional hotline or service centre; empty for nationwide ones (chat, portal ...).
    region = models.ForeignKey(
        "accounts.Region",
        verbose_name=_("region"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="components",
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ComponentStatus.choices,
        default=ComponentStatus.OPERATIONAL,
        editable=False,
    )
    status_since = models.DateTimeField(_("status since"), default=timezone.now, editable=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_public = models.BooleanField(_("shown on the status page"), default=True)
    created_at = models.DateTimeField(
        default=timezone.now, editable=False, verbose_name=_("created at")
    )

    class Meta:
        ordering = ["group__position", "position", "key"]
        verbose_name = _("component")
        verbose_name_plural = _("components")

    def __str__(self) -> str:
        return localized(self, "name")

    @property
    def name(self) -> str:
        return localized(self, "name")


class ComponentStatusChange(models.Model):
    """One change of a component's status (the uptime bars read its maintenance periods)."""

    component = models.ForeignKey(
        Component,
        on_delete=models.CASCADE,
        related_name="status_changes",
        verbose_name=_("component"),
    )
    from_status = models.CharField(
        max_length=16, choices=ComponentStatus.choices, verbose_name=_("from status")
    )
    to_status = models.CharField(
        max_length=16, choices=ComponentStatus.choices, verbose_name=_("to status")
    )
    at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("at"))
    # Who or what: "user:12", "system:alertmanager", "system:maintenance" (audit's actor refs).
    changed_by = models.CharField(max_length=64, verbose_name=_("changed by"))
    reason = models.CharField(max_length=300, blank=True, verbose_name=_("reason"))
    incident = models.ForeignKey(
        "Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("incident"),
    )

    class Meta:
        ordering = ["component", "at", "pk"]
        verbose_name = _("component status change")
        verbose_name_plural = _("component status changes")
        indexes = [models.Index(fields=["component", "at"], name="status_change_comp_at")]

    def __str__(self) -> str:
        return f"{self.component_id}: {self.from_status} -> {self.to_status}"


class Severity(models.Model):
    """A severity grade, defined as data: SEV1 nationwide hotline down ... SEV4 minor."""

    key = models.SlugField(max_length=16, unique=True, verbose_name=_("identifier"))
    rank = models.PositiveSmallIntegerField(
        _("rank"), unique=True, help_text=_("1 is the gravest.")
    )
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100)
    description = models.TextField(_("when to use it"), blank=True)
    description_zh = models.TextField(_("when to use it (Chinese)"), blank=True)
    update_every_minutes = models.PositiveSmallIntegerField(
        _("update customers every (minutes)"), default=30
    )
    requires_postmortem = models.BooleanField(_("needs a postmortem before closing"))

    class Meta:
        ordering = ["rank"]
        verbose_name = _("severity")
        verbose_name_plural = _("severities")

    def __str__(self) -> str:
        return f"{self.key.upper()} {self.name}"

    @property
    def name(self) -> str:
        return localized(self, "name")

    @property
    def description_localized(self) -> str:
        return in_reader_language(self.description, self.description_zh)


class StepKind(models.TextChoices):
    PAGE = "page", _("Page someone")
    BACKUP = "backup", _("Bring in a backup line or router")
    CHANNEL = "channel", _("Open a channel")
    COMMUNICATE = "communicate", _("Tell customers")
    OTHER = "other", _("Other")


class PlaybookStep(models.Model):
    """One step of a severity's response playbook; copied onto each incident as a task."""

    severity = models.ForeignKey(
        Severity, on_delete=models.CASCADE, related_name="steps", verbose_name=_("severity")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=16, choices=StepKind.choices)
    text = models.CharField(_("step"), max_length=300)
    text_zh = models.CharField(_("step (Chinese)"), max_length=300, blank=True)

    class Meta:
        ordering = ["severity", "position", "pk"]
        verbose_name = _("playbook step")
        verbose_name_plural = _("playbook steps")

    def __str__(self) -> str:
        return self.text_localized

    @property
    def text_localized(self) -> str:
        return in_reader_language(self.text, self.text_zh)


class IncidentState(models.TextChoices):
    INVESTIGATING = "investigating", _("Investigating")
    IDENTIFIED = "identified", _("Identified")
    MONITORING = "monitoring", _("Monitoring")
    RESOLVED = "resolved", _("Resolved")


class Incident(models.Model):
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    severity = models.ForeignKey(
        Severity, verbose_name=_("severity"), on_delete=models.PROTECT, related_name="incidents"
    )
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=IncidentState.choices,
        default=IncidentState.INVESTIGATING,
    )
    components = models.ManyToManyField(
        Component,
        through="IncidentComponent",
        related_name="incidents",
        verbose_name=_("components"),
    )
    cause_en = models.TextField(_("cause (English)"), blank=True)
    cause_zh = models.TextField(_("cause (Chinese)"), blank=True)
    expected_recovery = models.DateTimeField(_("expected recovery"), null=True, blank=True)
    # A draft (e.g. opened by an alert) changes nothing public until a supervisor publishes it.
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    postmortem = models.TextField(_("postmortem"), blank=True)
    # The public incident report, published after resolution (status.services.report_publish):
    # the timeline and the cause come from the incident, "what we did" is written for it.
    report_done_en = models.TextField(_("what we did (English)"), blank=True)
    report_done_zh = models.TextField(_("what we did (Chinese)"), blank=True)
    report_published_at = models.DateTimeField(
        _("report published"), null=True, blank=True, editable=False
    )
    # Notifications: every public change bumps the version; the notify tick sends the
    # current state once the incident has been quiet a moment (a storm of updates becomes
    # one message) and not more often than the minimum interval (resolution excepted).
    public_version = models.PositiveIntegerField(
        default=0, editable=False, verbose_name=_("public version")
    )
    notified_version = models.PositiveIntegerField(
        default=0, editable=False, verbose_name=_("notified version")
    )
    notify_after = models.DateTimeField(
        null=True, blank=True, editable=False, db_index=True, verbose_name=_("notify after")
    )
    last_notified_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("last notified at")
    )
    created_by = models.CharField(max_length=64, editable=False, verbose_name=_("created by"))
    created_at = models.DateTimeField(
        default=timezone.now, editable=False, verbose_name=_("created at")
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        permissions = [("manage_incident", _("Can declare, publish and close incidents"))]
        indexes = [models.Index(fields=["state", "published_at"], name="status_incident_state")]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def cause(self) -> str:
        return localized(self, "cause")

    @property
    def report_done(self) -> str:
        return localized(self, "report_done")

    @property
    def duration_hours(self) -> float | None:
        """Hours from the start to the resolution (None while unresolved), to 0.1 h."""
        if self.resolved_at is None:
            return None
        return round((self.resolved_at - self.started_at).total_seconds() / 3600, 1)

    @property
    def declared_late(self) -> bool:
        """Dated back: it began more than a couple of minutes before it was declared."""
        return (self.created_at - self.started_at).total_seconds() > 120

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    @property
    def is_active(self) -> bool:
        return self.state != IncidentState.RESOLVED


class IncidentComponent(models.Model):
    """A component an incident touches, and how badly."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="impacts")
    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="impacts")
    impact = models.CharField(
        _("impact"),
        max_length=16,
        choices=[c for c in ComponentStatus.choices if c[0] != ComponentStatus.OPERATIONAL],
    )

    class Meta:
        verbose_name = _("affected component")
        verbose_name_plural = _("affected components")
        constraints = [
            models.UniqueConstraint(fields=["incident", "component"], name="status_impact_once")
        ]

    def __str__(self) -> str:
        return f"{self.component_id}: {self.impact}"


class IncidentUpdate(models.Model):
    """A public, timestamped update in English and Chinese."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    state = models.CharField(_("state"), max_length=16, choices=IncidentState.choices)
    body_en = models.TextField(_("update (English)"))
    body_zh = models.TextField(_("update (Chinese)"))
    # When the status change happened (what the public page, the assessment and the uptime
    # use); it may be earlier than when it was typed (posted_at), with an audited reason.
    at = models.DateTimeField(_("happened at"), default=timezone.now)
    posted_at = models.DateTimeField(_("posted at"), default=timezone.now, editable=False)
    author = models.CharField(max_length=64)

    class Meta:
        ordering = ["incident", "-at", "-pk"]
        verbose_name = _("incident update")
        verbose_name_plural = _("incident updates")

    def __str__(self) -> str:
        return f"{self.incident_id} {self.state} {self.at:%Y-%m-%d %H:%M}"

    @property
    def body(self) -> str:
        return localized(self, "body")

    @property
    def posted_late(self) -> bool:
        """Dated back: typed more than a couple of minutes after it happened."""
        return (self.posted_at - self.at).total_seconds() > 120


class IncidentNote(models.Model):
    """An internal note: never shown to customers."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(_("note"))
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["incident", "at", "pk"]
        verbose_name = _("internal note")
        verbose_name_plural = _("internal notes")

    def __str__(self) -> str:
        return f"note {self.pk} on incident {self.incident_id}"


class IncidentTask(models.Model):
    """A playbook step copied onto an incident, ticked off by an agent."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="tasks", verbose_name=_("incident")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=16, choices=StepKind.choices)
    text = models.CharField(_("step"), max_length=300)
    text_zh = models.CharField(_("step (Chinese)"), max_length=300, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["incident", "position", "pk"]
        verbose_name = _("incident task")
        verbose_name_plural = _("incident tasks")

    def __str__(self) -> str:
        return self.text_localized

    @property
    def text_localized(self) -> str:
        return in_reader_language(self.text, self.text_zh)


class MaintenanceState(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class Maintenance(models.Model):
    """A planned window: its components go under maintenance at the start and back at the end,
    by themselves (the periodic status tick)."""

    title_en = models.CharField(_("title (English)"), max_length=200)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    body_en = models.TextField(_("details (English)"), blank=True)
    body_zh = models.TextField(_("details (Chinese)"), blank=True)
    components = models.ManyToManyField(
        Component, related_name="maintenances", verbose_name=_("components")
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=MaintenanceState.choices,
        default=MaintenanceState.SCHEDULED,
        editable=False,
    )
    reminded_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("reminded at")
    )
    created_by = models.CharField(max_length=64, editable=False, verbose_name=_("created by"))
    created_at = models.DateTimeField(
        default=timezone.now, editable=False, verbose_name=_("created at")
    )

    class Meta:
        ordering = ["starts_at", "pk"]
        verbose_name = _("maintenance window")
        verbose_name_plural = _("maintenance windows")
        indexes = [models.Index(fields=["state", "starts_at"], name="status_maint_state_start")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="status_maint_order"
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return localized(self, "title")

    @property
    def body(self) -> str:
        return localized(self, "body")


def _token() -> str:
    return secrets.token_urlsafe(32)


class Subscriber(models.Model):
    """Anyone who asked for e-mail about incidents and maintenance, after confirming by link.

    The address is personal data: encrypted, looked up by its blind index.
    """

    email = EncryptedEmailField(_("e-mail address"), max_length=254)
    email_bidx = BlindIndexField(
        source="email", kind="email", unique=True, verbose_name=_("e-mail blind index")
    )
    language = models.CharField(_("language"), max_length=8, default="en")
    components = models.ManyToManyField(
        Component,
        blank=True,
        related_name="subscribers",
        verbose_name=_("components"),
        help_text=_("None: every component."),
    )
    token = models.CharField(max_length=64, unique=True, default=_token, editable=False)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("status subscriber")
        verbose_name_plural = _("status subscribers")

    def __str__(self) -> str:
        return f"subscriber {self.pk}"


class AlertLink(models.Model):
    """An Alertmanager alert (by fingerprint) and the incident it opened: resends of the same
    alert update nothing new, its resolution resolves the incident."""

    fingerprint = models.CharField(max_length=64, unique=True)
    alertname = models.CharField(max_length=200)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="alerts")
    firing = models.BooleanField(default=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")

    def __str__(self) -> str:
        return f"{self.alertname} {self.fingerprint}"


class DrillOutcome(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    PASSED = "passed", _("Passed")
    FAILED = "failed", _("Failed")


class Drill(models.Model):
    """A failover drill of a hotline: scheduled monthly, run by `manage.py failover_drill`."""

    component = models.ForeignKey(
        Component, verbose_name=_("line"), on_delete=models.PROTECT, related_name="drills"
    )
    scheduled_for = models.DateTimeField(_("scheduled for"))
    switched = models.CharField(
        _("what was switched"), max_length=200, default="primary trunk → backup trunk"
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    recovery_seconds = models.FloatField(_("measured recovery (s)"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=DrillOutcome.choices, default=DrillOutcome.SCHEDULED
    )
    # Seconds from the start to each check: incident, banner, notices, restored.
    timings = models.JSONField(default=dict, blank=True, verbose_name=_("timings"))
    notes = models.TextField(_("notes"), blank=True)
    incident = models.ForeignKey(
        Incident,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("incident"),
    )
    run_by = models.CharField(max_length=64, blank=True, verbose_name=_("run by"))

    class Meta:
        ordering = ["-scheduled_for"]
        verbose_name = _("failover drill")
        verbose_name_plural = _("failover drills")
        constraints = [
            models.UniqueConstraint(fields=["component", "scheduled_for"], name="status_drill_once")
        ]

    def __str__(self) -> str:
        return f"{self.component_id} {self.scheduled_for:%Y-%m-%d}"
