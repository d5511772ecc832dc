"""Calls reported by the phone system, e-mails and WeChat/WeCom messages received, and the
machines' alarm rules. The caller's number is personal data: encrypted at rest, found again
by its blind index, never written to logs or the audit chain; so are a platform message's
media references."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Tier
from core.fields import BlindIndexField, EncryptedCharField
from equipment.models import Severity
from tickets.models import Priority


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


class MailOutcome(models.TextChoices):
    OPENED = "opened", _("Opened a ticket")
    REPLIED = "replied", _("Added to its ticket")
    STRANGER = "stranger", _("Reply by an outsider: opened a ticket of their own")
    IGNORED = "ignored", _("Ignored (bounce or automatic answer)")
    REJECTED = "rejected", _("Rejected (unknown sender)")


class InboundMail(models.Model):
    """One received e-mail, by its Message-ID: the ticket it opened or answered.

    The unique Message-ID makes ingesting idempotent (a poller that crashed before it could
    flag a message, or an MTA that retries, gives the same mail again: it is not added
    twice), and threads later replies that quote it in In-Reply-To or References. No address
    is stored: the sender is kept as a blind index (auto-reply limits per sender).
    """

    message_id = models.CharField(_("Message-ID"), max_length=250, unique=True)
    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("ticket"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    ticket_message = models.ForeignKey(
        "tickets.Message",
        verbose_name=_("ticket message"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=MailOutcome.choices)
    # Where it came in: "file", "endpoint", "imap:<mailbox>".
    source = models.CharField(_("source"), max_length=100)
    sender_bidx = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    auto_replied = models.BooleanField(_("auto-reply sent"), default=False)
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("received e-mail")
        verbose_name_plural = _("received e-mails")
        indexes = [models.Index(fields=["ticket", "received_at"], name="intake_mail_ticket")]

    def __str__(self) -> str:
        return f"{self.outcome} {self.pk}"


# ------------------------------------------------------------------ machines' own alarms


class OpensTicket(models.Model):
    """What a machine rule's ticket is opened with: its priority, and its queue (blank: the
    desk's routing decides, as for any fault)."""

    priority = models.PositiveSmallIntegerField(
        _("priority of the ticket"), choices=Priority.choices, default=Priority.P2
    )
    queue = models.ForeignKey(
        "tickets.Queue",
        verbose_name=_("queue"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Blank: the desk's routing decides."),
    )

    class Meta:
        abstract = True


class AlarmRule(OpensTicket):
    """When a machine's alarm opens a ticket (issue 23, point 3): rules are data, kept by
    supervisors in the admin, not code.

    A rule matches an alarm by its code (blank: any code) and a lowest severity. Of the
    rules matching an alarm, the one with a code wins over a catch-all, and of equals the
    lower id. An alarm whose rule opens no ticket (`opens_ticket` off: "ignore E-301") or
    that no rule matches only updates the machine's status. Repeats of one machine's code
    within `merge_minutes` of the last one join the ticket still open for it.
    """

    code = models.CharField(
        _("alarm code"), max_length=20, blank=True, help_text=_("Blank matches every code.")
    )
    min_severity = models.CharField(
        _("from severity"), max_length=16, choices=Severity.choices, default=Severity.MAJOR
    )
    opens_ticket = models.BooleanField(_("opens a ticket"), default=True)
    merge_minutes = models.PositiveIntegerField(
        _("repeats join the open ticket for (minutes)"), default=240
    )
    is_active = models.BooleanField(_("active"), default=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["code", "pk"]
        verbose_name = _("alarm rule")
        verbose_name_plural = _("alarm rules")

    def __str__(self) -> str:
        return f"{self.code or '*'} ≥ {self.min_severity}"


class AlarmTicket(models.Model):
    """A ticket a machine's alarm opened, and how often that alarm came again while it was
    open: the merge state of one (unit, code).

    A repeat within the rule's window of `last_at` joins here (`repeats` + 1, `last_at`
    moves) instead of opening another ticket; the ticket's page lists them (the alarms of
    the unit and code since `first_at`)."""

    unit = models.ForeignKey(
        "equipment.Unit", on_delete=models.CASCADE, related_name="+", verbose_name=_("unit")
    )
    code = models.CharField(_("alarm code"), max_length=20)
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="+", verbose_name=_("ticket")
    )
    rule = models.ForeignKey(
        AlarmRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    first_at = models.DateTimeField(_("first alarm"))
    last_at = models.DateTimeField(_("last alarm"))
    repeats = models.PositiveIntegerField(_("repeats"), default=0)

    class Meta:
        verbose_name = _("ticket opened by an alarm")
        verbose_name_plural = _("tickets opened by alarms")
        indexes = [models.Index(fields=["unit", "code", "-last_at"], name="alarmticket_latest_idx")]

    def __str__(self) -> str:
        return f"{self.code} → {self.ticket_id}"


class SilenceRule(OpensTicket):
    """A running machine that stops reporting opens a "machine silent" ticket, for the
    contract tiers that include it (one rule per tier; no rule: no watch)."""

    contract_tier = models.CharField(
        _("contract tier"), max_length=16, choices=Tier.choices, unique=True
    )
    silent_after_minutes = models.PositiveIntegerField(_("silent after (minutes)"), default=30)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["contract_tier"]
        verbose_name = _("silence watch")
        verbose_name_plural = _("silence watches")

    def __str__(self) -> str:
        return f"{self.contract_tier}: {self.silent_after_minutes} min"


class PlatformOutcome(models.TextChoices):
    CHAT = "chat", _("Added to the customer's live chat")
    TICKET = "ticket", _("Added to a ticket")
    UNBOUND = "unbound", _("From an unbound sender: kept on their contact's ticket")
    UNSUPPORTED = "unsupported", _("A kind of message the desk does not read")
    REJECTED = "rejected", _("Refused: bound to an account that is no active customer")
    LINKED = "linked", _("A linking code: the sender's account was linked")
    LINK_REFUSED = "link_refused", _("A linking code that is not valid")


class PlatformMessage(models.Model):
    """One message received from the WeChat official account or WeCom, by its MsgId: where
    it went (intake.wechat.services).

    (platform, app, MsgId) is unique, and the row is written in the transaction that files
    the message: a platform that retries after 5 s, or two deliveries at once, find the
    constraint and store nothing new. The text lives where it went (the chat or ticket
    message, encrypted); here only references: the platform's media id of a photo or voice
    message (fetchable from the platform for 3 days) and a photo's URL, encrypted.
    """

    platform = models.CharField(_("platform"), max_length=16)
    app_id = models.CharField(_("app id"), max_length=64)
    msg_id = models.CharField(_("message id"), max_length=64)
    msg_type = models.CharField(_("message type"), max_length=16)
    identity = models.ForeignKey(
        "accounts.PlatformIdentity",
        verbose_name=_("sender"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=PlatformOutcome.choices)
    chat_message = models.ForeignKey(
        "chat.ChatMessage",
        verbose_name=_("chat message"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("ticket"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ticket_message = models.ForeignKey(
        "tickets.Message",
        verbose_name=_("ticket message"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    media_id = EncryptedCharField(_("media id"), max_length=256, blank=True)
    pic_url = EncryptedCharField(_("photo URL"), max_length=1000, blank=True)
    # The photo was copied into the chat or ticket (or refused by the upload checks): done.
    media_copied = models.BooleanField(_("photo copied"), default=False)
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("received WeChat/WeCom message")
        verbose_name_plural = _("received WeChat/WeCom messages")
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "app_id", "msg_id"], name="intake_platform_message_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.outcome} {self.pk}"
