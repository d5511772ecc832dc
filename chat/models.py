"""Live chat: conversations and their messages, numbered by the server, never duplicated."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedCharField, EncryptedTextField
from core.malware import ScanStatus


class ConversationStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for an agent")
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")


class Conversation(models.Model):
    """A customer's chat with the desk; its messages are numbered 1, 2, 3 ... by the server."""

    organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="conversations",
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="chat_conversations",
    )
    unit = models.ForeignKey(
        "equipment.Unit",
        verbose_name=_("machine"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    queue = models.ForeignKey(
        "tickets.Queue",
        verbose_name=_("queue"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="conversations",
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ConversationStatus.choices,
        default=ConversationStatus.WAITING,
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="chat_assignments",
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("ticket"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )
    # The messaging platform the customer writes from ("wechat", "wecom"; empty: the portal's
    # chat): the desk's answers go there too (notifications.messages.answer_on_platform).
    platform = models.CharField(
        _("messaging platform"), max_length=16, blank=True, default="", editable=False
    )
    # The number of the last message; the next one gets last_seq + 1 under the row lock.
    last_seq = models.PositiveIntegerField(
        default=0, editable=False, verbose_name=_("last sequence number")
    )
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("created at")
    )
    # When an agent first took the chat (accepted, or given by routing): the customer's wait
    # ends here. Empty while waiting, for a chat closed before anyone took it, and for the
    # chats taken before it was recorded (their waits are not known).
    accepted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("accepted at"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    rating_comment = EncryptedTextField(_("rating comment"), blank=True)
    rated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("rated at"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            models.Index(fields=["status", "queue"], name="chat_conv_queue_idx"),
            models.Index(fields=["customer", "status"], name="chat_conv_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"chat {self.pk}"


# A bot payload's lists of links, and the field of each row that names the link.
LINK_LABELS = {"articles": "title", "tickets": "reference", "shipments": "tracking_number"}
_SITE_PATH = re.compile(r"/(?![/\\])[^\\\x00-\x20\x7f]*")


def site_path(url: object) -> bool:
    """True for a relative path on this site ("/portal/tickets/WD-…/"), nothing else."""
    return isinstance(url, str) and _SITE_PATH.fullmatch(url) is not None


class ChatMessage(models.Model):
    """One message, stored before it is acknowledged; (conversation, client_id) is unique."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveIntegerField()
    # The sender's own id for the message: a resend with the same id is the same message.
    client_id = models.CharField(max_length=64)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="chat_messages",
    )
    from_customer = models.BooleanField(default=False)
    is_bot = models.BooleanField(default=False)
    body = EncryptedTextField(_("message"))
    # For the bot's messages: the suggested articles and the choices it offers.
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The body was replaced by a placeholder (erasure or retention); the group-commit writer
    # leaves it out of its INSERT, so the database default applies.
    erased = models.BooleanField(default=False, db_default=False, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["conversation", "seq"]
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="chat_message_seq"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"], name="chat_message_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"chat {self.conversation_id} #{self.seq}"

    @property
    def links(self) -> list[dict[str, str]]:
        """The links a bot message shows under its text: `kind` (articles, tickets,
        shipments), `text` and `url`, from the payload chat.answers wrote.

        The text does not repeat them, so the page without JavaScript shows them too. Only a
        path on this site is kept (one "/", no backslash, space or control character, which a
        browser may read as another host): the payload is data, never trusted as markup."""
        if not self.is_bot or not isinstance(self.payload, dict):
            return []
        found = []
        for kind, label in LINK_LABELS.items():
            rows = self.payload.get(kind)
            for row in rows if isinstance(rows, list) else ():
                if not isinstance(row, dict):
                    continue
                text, url = row.get(label), row.get("url")
                if isinstance(text, str) and text and site_path(url):
                    found.append({"kind": kind, "text": text, "url": url})
        return found


class PresenceState(models.TextChoices):
    ONLINE = "online", _("Online")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class AgentPresence(models.Model):
    """An agent's chat availability, kept alive by heartbeats from the agent console.

    The state read by routing is `effective_state`: a heartbeat older than PRESENCE_TIMEOUT
    counts as offline even before the sweep writes it (a crashed tab sends no goodbye).
    """

    agent = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="chat_presence",
        verbose_name=_("agent"),
    )
    state = models.CharField(
        max_length=8,
        choices=PresenceState.choices,
        default=PresenceState.OFFLINE,
        verbose_name=_("state"),
    )
    last_seen = models.DateTimeField(null=True, blank=True, verbose_name=_("last seen"))
    capacity = models.PositiveSmallIntegerField(
        _("concurrent chats"),
        default=3,
        help_text=_("How many active chats at once."),
        # The same bounds as chat.presence.presence_configure (forms say so before it does).
        validators=[MinValueValidator(1), MaxValueValidator(20)],
    )
    # On the standby roster: called in when the waiting queue surges.
    standby = models.BooleanField(_("on standby"), default=False)

    class Meta:
        verbose_name = _("agent presence")
        verbose_name_plural = _("agent presence")

    def __str__(self) -> str:
        return f"{self.agent_id}: {self.state}"


def chat_attachment_path(instance: ChatAttachment, filename: str) -> str:
    # A random name outside the static roots; the uploaded name is kept (encrypted) for display.
    return f"chat/{instance.storage_key.hex[:2]}/{instance.storage_key.hex}"


class ChatAttachment(models.Model):
    """A photo, short video or file sent in a chat: uploaded first, then named in a message."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(
        ChatMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    storage_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    file = models.FileField(upload_to=chat_attachment_path, max_length=200)
    original_name = EncryptedCharField(_("file name"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Served to nobody while PENDING (the scanner could not be reached; scanned again by beat).
    scan_status = models.CharField(
        _("virus scan"), max_length=10, choices=ScanStatus.choices, default=ScanStatus.UNSCANNED
    )
    is_image = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(scan_status="pending"),
                name="chat_att_scan_pending",
            )
        ]
        verbose_name = _("chat attachment")
        verbose_name_plural = _("chat attachments")

    def __str__(self) -> str:
        return f"chat {self.conversation_id} file {self.pk}"
