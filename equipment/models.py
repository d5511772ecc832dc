"""Machine models, installed units (serial, owner, warranty end) and fault codes.

Warranty status is never stored: it is derived from `warranty_ends_on` and today's date, in
Python (`Unit.warranty_status`) and in SQL (`selectors.with_warranty_status`).
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, Tier
from core.models import TimeStampedModel
from core.translations import in_reader_language

# A warranty ending within this many days is shown as "expiring soon".
EXPIRING_SOON_DAYS = 30


class ProductLine(models.TextChoices):
    HANDHELD = "handheld", _("Handheld fibre-laser welders")
    ROBOTIC = "robotic", _("Robotic welding cells")
    CLADDING = "cladding", _("Laser cladding systems")


class MachineModel(models.Model):
    """A model in the catalogue, e.g. a 2 kW handheld fibre-laser welder."""

    code = models.SlugField(_("model code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    # Shown to Chinese readers (portal, agents' pages, notifications); blank: the name above.
    name_zh = models.CharField(_("name (Chinese)"), max_length=120, blank=True)
    product_line = models.CharField(_("product line"), max_length=16, choices=ProductLine.choices)
    wavelength_nm = models.PositiveIntegerField(_("wavelength (nm)"))
    max_power_w = models.PositiveIntegerField(_("maximum power (W)"))
    is_active = models.BooleanField(_("sold currently"), default=True)

    class Meta:
        ordering = ["product_line", "max_power_w", "code"]
        verbose_name = _("machine model")
        verbose_name_plural = _("machine models")

    def __str__(self) -> str:
        return self.name_localized

    @property
    def name_localized(self) -> str:
        """The name in the reader's language (the Chinese one for a Chinese reader, when set)."""
        return in_reader_language(self.name, self.name_zh)


class WarrantyStatus(models.TextChoices):
    ACTIVE = "active", _("In warranty")
    EXPIRING = "expiring", _("Warranty ends soon")
    EXPIRED = "expired", _("Out of warranty")


class Unit(TimeStampedModel):
    """One installed machine at a customer's site."""

    serial_number = models.CharField(_("serial number"), max_length=40, unique=True)
    machine_model = models.ForeignKey(
        MachineModel, verbose_name=_("model"), on_delete=models.PROTECT, related_name="units"
    )
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="units"
    )
    site = models.CharField(_("site"), max_length=200, blank=True)
    site_zh = models.CharField(_("site (Chinese)"), max_length=200, blank=True)
    installed_on = models.DateField(_("installation date"))
    firmware = models.CharField(_("firmware"), max_length=40, blank=True)
    warranty_ends_on = models.DateField(_("warranty end date"))
    contract_tier = models.CharField(
        _("contract tier"), max_length=16, choices=Tier.choices, default=Tier.STANDARD
    )

    class Meta:
        ordering = ["serial_number"]
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        indexes = [models.Index(fields=["organisation", "warranty_ends_on"])]

    def __str__(self) -> str:
        return self.serial_number

    @property
    def site_localized(self) -> str:
        """The site in the reader's language (the Chinese one for a Chinese reader, when set)."""
        return in_reader_language(self.site, self.site_zh)

    def warranty_status(self, today: dt.date | None = None) -> str:
        """Return the derived warranty status on a day (today by default)."""
        today = today or timezone.localdate()
        if self.warranty_ends_on < today:
            return WarrantyStatus.EXPIRED
        if self.warranty_ends_on <= today + dt.timedelta(days=EXPIRING_SOON_DAYS):
            return WarrantyStatus.EXPIRING
        return WarrantyStatus.ACTIVE

    def get_warranty_status_display(self) -> str:
        return str(WarrantyStatus(self.warranty_status()).label)

    @property
    def live_status_or_none(self) -> UnitStatus | None:
        """The machine's live status, None when it never reported (for templates, which
        cannot catch the reverse one-to-one's DoesNotExist)."""
        try:
            return self.live_status
        except UnitStatus.DoesNotExist:
            return None


class WarrantyExtension(models.Model):
    """One move of a unit's warranty end: an extension, or the reversal of one (negative days).

    The customer sees these on the machine's page with the reason in their language.
    """

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="extensions")
    days = models.IntegerField(_("days"))
    ends_before = models.DateField(_("warranty end before"))
    ends_after = models.DateField(_("warranty end after"))
    reason_en = models.CharField(_("reason (English)"), max_length=300)
    reason_zh = models.CharField(_("reason (Chinese)"), max_length=300, blank=True)
    # What asked for it, e.g. "compensation.grant:12"; the same source never extends twice.
    source = models.CharField(_("source"), max_length=64, blank=True)
    reverses = models.OneToOneField(
        "self",
        verbose_name=_("reverses"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        ordering = ["unit", "-created_at", "-pk"]
        verbose_name = _("warranty extension")
        verbose_name_plural = _("warranty extensions")
        constraints = [
            models.UniqueConstraint(
                fields=["unit", "source"],
                condition=~models.Q(source=""),
                name="warranty_extension_source_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} {self.days:+d}d"

    def reason(self, language: str = "en") -> str:
        return self.reason_zh if language.startswith("zh") and self.reason_zh else self.reason_en


class Severity(models.TextChoices):
    CRITICAL = "critical", _("Critical: machine stopped")
    MAJOR = "major", _("Major: degraded output")
    MINOR = "minor", _("Minor")
    INFO = "info", _("Information")


class FaultCode(models.Model):
    """A fault the machines report, with the first checks a customer can do alone."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    title_en = models.CharField(_("title (English)"), max_length=200)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    first_checks_en = models.TextField(_("first checks (English)"), blank=True)
    first_checks_zh = models.TextField(_("first checks (Chinese)"), blank=True)
    product_lines = models.CharField(
        _("product lines"),
        max_length=100,
        blank=True,
        help_text=_("Comma-separated product lines; empty means all."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("fault code")
        verbose_name_plural = _("fault codes")

    def __str__(self) -> str:
        return f"{self.code} {self.title_en}"

    def title(self, language: str = "en") -> str:
        return self.title_zh if language.startswith("zh") else self.title_en

    def first_checks(self, language: str = "en") -> str:
        return self.first_checks_zh if language.startswith("zh") else self.first_checks_en


# ---------------------------------------------------------------------- live status and alarms

# How severities rank, lowest first: a rule "from major" matches major and critical.
SEVERITY_RANK = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


class MachineState(models.TextChoices):
    RUNNING = "running", _("Running")
    WARNING = "warning", _("Warning")
    STOPPED = "stopped", _("Stopped")


class UnitStatus(models.Model):
    """What a machine last said of itself (issue 23): one row per unit that ever reported.

    Kept apart from Unit so a machine's reports (many a minute) update a narrow row and never
    the registry's own record; a unit without a row has never reported ("unknown"). Written
    only by equipment.services.unit_status_record, under the row's lock, so two batches of
    one machine are applied one after the other.
    """

    unit = models.OneToOneField(
        Unit, on_delete=models.CASCADE, primary_key=True, related_name="live_status"
    )
    state = models.CharField(
        _("state"), max_length=16, choices=MachineState.choices, default=MachineState.RUNNING
    )
    # The machine's own clock for the report that set the state; the desk's for the others.
    state_since = models.DateTimeField(_("in this state since"))
    last_seen_at = models.DateTimeField(_("last report received"))
    last_alarm_at = models.DateTimeField(_("last alarm"), null=True, blank=True)
    last_alarm_code = models.CharField(_("last alarm code"), max_length=20, blank=True)
    # Set when the desk opened a "machine silent" ticket; cleared by the next report.
    silent_since = models.DateTimeField(_("silent since"), null=True, blank=True)

    class Meta:
        verbose_name = _("unit status")
        verbose_name_plural = _("unit statuses")
        indexes = [
            # The silence watch: running units by when they were last heard from.
            models.Index(
                fields=["last_seen_at"],
                name="unitstatus_running_seen_idx",
                condition=models.Q(state="running", silent_since__isnull=True),
            ),
            models.Index(fields=["state"], name="unitstatus_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.unit_id}: {self.state}"


class Alarm(models.Model):
    """One alarm a machine (or its partner's gateway) reported through the API.

    `alarm_id` is the machine's own id: a batch sent twice is stored once (unique per unit).
    `occurred_at` is the machine's clock, `received_at` the desk's. Parameters are machine
    data, not personal data: laser power, temperature, wire feed and gas flow have columns of
    their own (a chart or a rule can read them); anything else rides in `extra`, bounded in
    keys and size by the API.
    """

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="alarms")
    alarm_id = models.CharField(_("alarm id"), max_length=64)
    code = models.CharField(_("alarm code"), max_length=20)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    message = models.CharField(_("message"), max_length=300, blank=True)
    occurred_at = models.DateTimeField(_("occurred at (machine clock)"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    laser_power_w = models.FloatField(_("laser power (W)"), null=True, blank=True)
    temperature_c = models.FloatField(_("temperature (°C)"), null=True, blank=True)
    wire_feed_m_min = models.FloatField(_("wire feed (m/min)"), null=True, blank=True)
    gas_flow_l_min = models.FloatField(_("gas flow (l/min)"), null=True, blank=True)
    extra = models.JSONField(_("other values"), default=dict, blank=True)

    class Meta:
        verbose_name = _("alarm")
        verbose_name_plural = _("alarms")
        constraints = [
            models.UniqueConstraint(fields=["unit", "alarm_id"], name="alarm_unit_alarm_id_uniq")
        ]
        indexes = [models.Index(fields=["unit", "-occurred_at"], name="alarm_unit_latest_idx")]

    def __str__(self) -> str:
        return f"{self.code} ({self.alarm_id})"
