"""The one registry of personal-data fields: what each holds, why, and how long.

Every field that holds personal data is listed here with its category, its purpose, its
retention rule and what an erasure does to it. The records-of-processing page is generated
from it; a test fails when a field is encrypted or declared personal (core.pii) but missing
here, or listed here but neither encrypted nor marked as kept in clear on purpose. The
data-subject export and the erasure (issue 9, next parts) read the same list.

Models are named by label ("accounts.User") so that core imports no domain app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

# Categories of personal data.
IDENTITY = _("identity")
CONTACT = _("contact")
CONTENT = _("content")  # what a person wrote or uploaded
LOCATION = _("location")
TECHNICAL = _("technical")  # device keys, addresses of their systems, IP addresses

# Retention rules (docs/compliance.md gives the periods).
ACCOUNT = _("while the account exists")
CONTRACT = _("while the customer's contract runs, then 2 years")
CLOSED_TICKETS = _("3 years after the ticket closes")
CLOSED_CHATS = _("12 months after the chat closes")
CALLS = _("90 days after the call")
PLATFORM_MESSAGES = _("90 days after the message was received")
DELIVERY = _("1 year after delivery")
OUTBOX = _("90 days after sending")
SUBSCRIPTION = _("until unsubscribed")
LEGAL = _("kept: the audit chain is evidence (legal obligation); holds references only")

# What an erasure does to the field.
PSEUDONYMISE = _("replaced by a pseudonym")
BLANK = _("emptied")
DELETE = _("the row is deleted")
KEEP = _("kept")


@dataclass(frozen=True)
class PersonalField:
    model: str
    field: str
    category: Any
    purpose: Any
    retention: Any
    erasure: Any
    # False only where clear text is needed and justified in `purpose`.
    encrypted: bool = True


F = PersonalField
REGISTRY: tuple[PersonalField, ...] = (
    # accounts
    F("accounts.User", "email", CONTACT, _("sign-in and notices"), ACCOUNT, PSEUDONYMISE),
    F(
        "accounts.User",
        "email_bidx",
        CONTACT,
        _("finding an account by e-mail"),
        ACCOUNT,
        PSEUDONYMISE,
    ),
    F("accounts.User", "full_name", IDENTITY, _("addressing the person"), ACCOUNT, PSEUDONYMISE),
    F("accounts.User", "phone", CONTACT, _("SMS notices and callbacks"), ACCOUNT, BLANK),
    F("accounts.User", "phone_bidx", CONTACT, _("recognising a caller"), ACCOUNT, BLANK),
    F("accounts.User", "wecom_id", CONTACT, _("WeCom notices"), ACCOUNT, BLANK),
    F(
        "accounts.User",
        "notify_webhook_url",
        TECHNICAL,
        _("notices to the customer's own system (an address, needed in clear to deliver)"),
        ACCOUNT,
        BLANK,
        encrypted=False,
    ),
    F(
        "accounts.User",
        "oidc_subject",
        TECHNICAL,
        _(
            "matching a staff member's single sign-on (the identity provider's opaque "
            "identifier, needed in clear to find the account)"
        ),
        ACCOUNT,
        BLANK,
        encrypted=False,
    ),
    F(
        "accounts.PlatformIdentity",
        "external_id",
        IDENTITY,
        _("answering a person on WeChat or WeCom (their OpenID or WeCom user id)"),
        ACCOUNT,
        DELETE,
    ),
    F(
        "accounts.PlatformIdentity",
        "external_id_bidx",
        IDENTITY,
        _("recognising a person who writes on WeChat or WeCom"),
        ACCOUNT,
        DELETE,
    ),
    F(
        "accounts.PlatformIdentity",
        "union_id",
        IDENTITY,
        _("recognising a person across the desk's WeChat apps (their UnionID)"),
        ACCOUNT,
        DELETE,
    ),
    F(
        "accounts.PlatformIdentity",
        "union_id_bidx",
        IDENTITY,
        _("finding a person by their UnionID"),
        ACCOUNT,
        DELETE,
    ),
    F(
        "accounts.Organisation",
        "contact_name",
        IDENTITY,
        _("the customer's contact"),
        CONTRACT,
        BLANK,
    ),
    F(
        "accounts.Organisation",
        "contact_email",
        CONTACT,
        _("the customer's contact"),
        CONTRACT,
        BLANK,
    ),
    F(
        "accounts.Organisation",
        "contact_email_bidx",
        CONTACT,
        _("finding the contact"),
        CONTRACT,
        BLANK,
    ),
    F(
        "accounts.Organisation",
        "contact_phone",
        CONTACT,
        _("the customer's contact"),
        CONTRACT,
        BLANK,
    ),
    F(
        "accounts.Organisation",
        "contact_phone_bidx",
        CONTACT,
        _("recognising a caller"),
        CONTRACT,
        BLANK,
    ),
    F(
        "accounts.Organisation",
        "address",
        LOCATION,
        _("service visits and deliveries (the company's site: kept when its contact is erased)"),
        CONTRACT,
        KEEP,
    ),
    # tickets
    F(
        "tickets.Message",
        "body",
        CONTENT,
        _("the service conversation"),
        CLOSED_TICKETS,
        PSEUDONYMISE,
    ),
    F("tickets.Attachment", "original_name", CONTENT, _("naming an upload"), CLOSED_TICKETS, BLANK),
    F("tickets.Survey", "comment", CONTENT, _("service quality"), CLOSED_TICKETS, BLANK),
    F(
        "tickets.SavedView",
        "name",
        CONTENT,
        _("naming an agent's own list view (in clear: a label only its owner sees)"),
        ACCOUNT,
        DELETE,
        encrypted=False,
    ),
    F(
        "tickets.SearchTerm",
        "term",
        CONTENT,
        _("finding tickets by what agents type (keyed hashes of words, never the words)"),
        CLOSED_TICKETS,
        DELETE,
    ),
    # chat
    F("chat.ChatMessage", "body", CONTENT, _("the chat conversation"), CLOSED_CHATS, PSEUDONYMISE),
    F("chat.ChatAttachment", "original_name", CONTENT, _("naming an upload"), CLOSED_CHATS, BLANK),
    F("chat.Conversation", "rating_comment", CONTENT, _("service quality"), CLOSED_CHATS, BLANK),
    # notifications
    F("notifications.Outbox", "recipient", CONTACT, _("delivering a notice"), OUTBOX, DELETE),
    F("notifications.Outbox", "subject", CONTENT, _("delivering a notice"), OUTBOX, DELETE),
    F("notifications.Outbox", "body", CONTENT, _("delivering a notice"), OUTBOX, DELETE),
    F(
        "notifications.PushSubscription",
        "endpoint",
        TECHNICAL,
        _("browser notices"),
        ACCOUNT,
        DELETE,
    ),
    F("notifications.PushSubscription", "p256dh", TECHNICAL, _("browser notices"), ACCOUNT, DELETE),
    F("notifications.PushSubscription", "auth", TECHNICAL, _("browser notices"), ACCOUNT, DELETE),
    # status
    F("status.Subscriber", "email", CONTACT, _("status page notices"), SUBSCRIPTION, DELETE),
    F(
        "status.Subscriber",
        "email_bidx",
        CONTACT,
        _("one subscription an address"),
        SUBSCRIPTION,
        DELETE,
    ),
    # intake
    F("intake.Call", "caller", CONTACT, _("calling back a missed caller"), CALLS, BLANK),
    F("intake.Call", "caller_bidx", CONTACT, _("recognising a caller"), CALLS, BLANK),
    F(
        "intake.PlatformMessage",
        "media_id",
        CONTENT,
        _("fetching a photo or voice message from WeChat or WeCom"),
        PLATFORM_MESSAGES,
        BLANK,
    ),
    F(
        "intake.PlatformMessage",
        "pic_url",
        CONTENT,
        _("showing a photo sent on WeChat or WeCom"),
        PLATFORM_MESSAGES,
        BLANK,
    ),
    # logistics
    F("logistics.Shipment", "delivery_address", LOCATION, _("delivering parts"), DELIVERY, BLANK),
    F("logistics.Shipment", "recipient_phone", CONTACT, _("the courier's checks"), DELIVERY, BLANK),
    # audit
    F(
        "audit.AuditEvent",
        "ip",
        TECHNICAL,
        _("evidence of who did what from where (the chain cannot change: hashed)"),
        LEGAL,
        KEEP,
        encrypted=False,
    ),
)


def registered() -> dict[tuple[str, str], PersonalField]:
    return {(f.model, f.field): f for f in REGISTRY}


def fields_of(model_label: str) -> list[PersonalField]:
    return [f for f in REGISTRY if f.model == model_label]


@dataclass(frozen=True)
class Marks:
    """What identifies a person in free text: checked when scrubbing what they may have
    typed into fields that are not theirs alone (a ticket's subject, a notice to an agent)."""

    email: str
    phone: str
    name: str

    def found_in(self, text: str | None) -> bool:
        if not text:
            return False
        lowered = text.lower()
        digits = "".join(c for c in text if c.isdigit())
        phone = "".join(c for c in self.phone if c.isdigit())
        return (
            (self.email and self.email.lower() in lowered)
            or (len(phone) >= 7 and phone[-11:] in digits)
            or (len(self.name) >= 2 and self.name.lower() in lowered)
        )

    def scrub(self, text: str, replacement: str = "[erased]") -> str:
        import re

        for mark in (self.email, self.name, self.phone):
            if mark and len(mark) >= 2:
                text = re.sub(re.escape(mark), replacement, text, flags=re.IGNORECASE)
        return text


ERASED = "[erased at the person's request]"


def is_index(field_name: str) -> bool:
    """Blind indexes follow their source field (recomputed on save)."""
    return field_name.endswith("_bidx")


def readable(instance: Any) -> dict[str, Any]:
    """The registered personal fields of a row, decrypted (for a data-subject export)."""
    label = instance._meta.concrete_model._meta.label  # a proxy shares its fields
    return {f.field: getattr(instance, f.field) for f in fields_of(label) if not is_index(f.field)}


def erase(instance: Any, pseudonyms: dict[str, str]) -> list[str]:
    """Apply the registry's erasure rule to every registered field of a row (in memory; the
    caller saves the returned fields). A field to pseudonymise needs its pseudonym."""
    changed = []
    for entry in fields_of(instance._meta.concrete_model._meta.label):
        if is_index(entry.field) or entry.erasure in (KEEP, DELETE):
            continue
        if entry.erasure == PSEUDONYMISE:
            setattr(instance, entry.field, pseudonyms[entry.field])
        else:
            # A nullable field (a unique identifier such as the single sign-on subject) is
            # emptied to NULL, so two erased rows never collide on "".
            field = instance._meta.get_field(entry.field)
            setattr(instance, entry.field, None if field.null else "")
        changed.append(entry.field)
    return changed
