"""The one way a WeChat or WeCom message becomes desk data: `platform_message_receive`.

A message (already checked and decrypted by the endpoint, intake.wechat.api) is filed in
one transaction, keyed by its MsgId: the PlatformMessage row goes in first, inside a
savepoint, so the platform's retry after 5 s (or the same message twice at once) meets the
unique constraint and stores nothing new; the caller then answers "success" again. Where it
goes (docs/wechat.md):

- The sender is found by their platform id (accounts.PlatformIdentity, created on their
  first message).
- Bound to an active customer account: into their open live chat; with none open, a new chat
  when an agent of their queue can take it now; otherwise (outside hours, nobody free) into
  a ticket: the open ticket their earlier platform messages went to, else a new one. A new
  chat or ticket is announced in the passive reply.
- Unbound: filed under an inactive stand-in contact of the organisation "Unidentified WeChat
  senders" of the first region (agents match them later, as for e-mail), on that contact's
  open ticket or a new one; the passive reply (at most once an hour per sender) asks them to
  link their account, in the language they wrote in.
- Text as it is; a photo by its URL and media id (kept on the row, encrypted), then copied
  into the chat or ticket after commit (`platform_media_fetch`: the platform's media API,
  the upload checks; best effort, once); a voice message by the platform's transcript
  (Recognition) when it sends one. Other kinds are
  recorded (so a retry is still a duplicate) and answered that the desk reads only these.

Events (subscribe, menu clicks) carry no MsgId and are answered "success" without a row. No
id, name or text goes to a log or the audit chain: row ids, outcomes and counts only.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import selectors as account_selectors
from accounts.models import Organisation, PlatformIdentity, User
from accounts.services import platforms
from accounts.services.platforms import platform_identity_seen, platform_identity_set_contact
from audit.services import audit_record
from chat import intents, presence
from chat import services as chat_services
from core import softcache
from core.errors import ApplicationError
from core.queue import enqueue_on_commit
from intake.models import PlatformMessage, PlatformOutcome
from intake.wechat import selectors
from notifications import wechat as platform_clients
from notifications.wecom import WeComError
from tickets.models import Channel, Kind, Ticket
from tickets.services.attachments_store import attachment_store
from tickets.services.tickets import MAX_BODY, ticket_open, ticket_reply

log = logging.getLogger(__name__)

UNKNOWN_SENDERS = "Unidentified WeChat senders / 未识别微信用户"
MESSAGE_TYPES = ("text", "image", "voice")
# The bind request goes to one unbound sender at most this often.
BIND_PROMPT_SECONDS = 3600
PLATFORM_NAMES = {"wechat": gettext_lazy("WeChat"), "wecom": gettext_lazy("WeCom")}
MAX_SUBJECT_WORDS = 60
MEDIA_TASK = "intake.platform_media_fetch"
# The name a copied photo gets, by the type the platform gives (the upload checks read the
# content itself).
PHOTO_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif"}


@dataclass(frozen=True)
class Received:
    """What became of a message: its outcome (None for an event), the passive reply's text
    ("" for none) and whether it was a duplicate (nothing stored)."""

    outcome: str | None
    reply: str = ""
    duplicate: bool = False
    row_id: int | None = None
    ticket_id: int | None = None
    chat_message_id: int | None = None


def _field(fields: dict[str, str], name: str, limit: int) -> str:
    value = (fields.get(name) or "").strip()
    if len(value) > limit:
        raise ApplicationError(_("The message's %(f)s is too long.") % {"f": name}, code="bad_xml")
    return value


def platform_message_receive(
    *, platform: str, app_id: str, fields: dict[str, str], now: dt.datetime | None = None
) -> Received:
    """File one message from the platform (see the module docstring); ApplicationError
    ("bad_xml") for a message without the fields every message has."""
    now = now or timezone.now()
    msg_type = _field(fields, "MsgType", 32).lower()
    if msg_type == "event":
        return Received(outcome=None)
    msg_id = _field(fields, "MsgId", 64)
    sender = _field(fields, "FromUserName", 128)
    if not msg_id.isascii() or not msg_id.isdigit() or not sender or not msg_type:
        raise ApplicationError(
            _("A message needs MsgType, MsgId and FromUserName."), code="bad_xml"
        )
    with transaction.atomic():
        row = PlatformMessage(
            platform=platform,
            app_id=app_id,
            msg_id=msg_id,
            msg_type=msg_type[:16],
            outcome=PlatformOutcome.UNSUPPORTED,
            media_id=_field(fields, "MediaId", 256) if msg_type in ("image", "voice") else "",
            pic_url=_field(fields, "PicUrl", 1000) if msg_type == "image" else "",
            received_at=now,
        )
        try:
            with transaction.atomic():  # a savepoint: only the duplicate insert is undone
                row.save(force_insert=True)
        except IntegrityError:
            return Received(outcome=None, duplicate=True)
        received = _file(row, platform=platform, app_id=app_id, sender=sender, fields=fields)
    log.info("%s message %s: %s", platform, row.pk, row.outcome)
    return received


def _file(
    row: PlatformMessage, *, platform: str, app_id: str, sender: str, fields: dict[str, str]
) -> Received:
    """Route a new message (in the receiving transaction) and record where it went."""
    now = row.received_at
    identity = platform_identity_seen(
        platform=platform,
        app_id=app_id,
        external_id=sender,
        union_id=fields.get("UnionId") or fields.get("UnionID") or "",
        now=now,
    )
    row.identity = identity
    code = platforms.bind_code_in(fields.get("Content", "")) if row.msg_type == "text" else None
    if code is not None:
        return _link(row, identity, platform, code)
    reply, ticket, chat_message = "", None, None
    customer = identity.user
    if row.msg_type not in MESSAGE_TYPES:
        row.outcome = PlatformOutcome.UNSUPPORTED
        reply = _in(_language(identity, ""), _unsupported_reply)
    elif customer is not None and not (customer.is_active and customer.is_customer):
        row.outcome = PlatformOutcome.REJECTED  # staff, or an account since deactivated
    else:
        text = _text(row, fields)
        language = _language(identity, text)
        if customer is not None:
            chat_message, opened = _into_chat(customer, platform, row, text, now)
            if chat_message is not None:
                row.outcome = PlatformOutcome.CHAT
                if opened:
                    reply = _in(language, _chat_opened_reply)
            else:
                ticket, message, opened = _into_ticket(identity, customer, platform, text)
                row.outcome, row.ticket_message = PlatformOutcome.TICKET, message
                if opened:
                    reply = _in(language, _ticket_opened_reply, ticket)
        else:
            contact = identity.contact or _unidentified_contact(identity, platform)
            ticket, message, _opened = _into_ticket(identity, contact, platform, text)
            row.outcome, row.ticket_message = PlatformOutcome.UNBOUND, message
            # Once an hour a sender (with the cache away: every time, rather than never).
            asked = f"platform:bind-asked:{identity.pk}"
            if softcache.add(asked, 1, BIND_PROMPT_SECONDS) is not False:
                reply = _in(language, _bind_reply, platform, ticket)
    row.ticket, row.chat_message = ticket, chat_message
    row.save(update_fields=["identity", "outcome", "ticket", "ticket_message", "chat_message"])
    if row.msg_type == "image" and row.media_id and (ticket or chat_message):
        enqueue_on_commit(MEDIA_TASK, row.pk)
    target: Any = ticket or (chat_message.conversation if chat_message else None) or row
    audit_record(
        action="platform.message_received",
        actor=f"system:{platform}",
        target=target,
        data={"message": row.pk, "type": row.msg_type, "outcome": row.outcome},
    )
    return Received(
        outcome=row.outcome,
        reply=reply,
        row_id=row.pk,
        ticket_id=ticket.pk if ticket else None,
        chat_message_id=chat_message.pk if chat_message else None,
    )


def _into_chat(
    customer: User, platform: str, row: PlatformMessage, text: str, now: dt.datetime
) -> tuple[Any, bool]:
    """Post to the customer's open chat, or to a new one when an agent can take it now;
    (None, False) when the message must wait in a ticket."""
    conversation = chat_services.conversation_current(customer=customer)
    opened = False
    if conversation is None:
        if not presence.customer_can_chat_now(customer=customer, now=now):
            return None, False
        conversation = chat_services.conversation_open(customer=customer, platform=platform)
        opened = True
    chat_services.conversation_platform_set(conversation=conversation, platform=platform)
    message, _created = chat_services.message_post(
        conversation=conversation,
        sender=customer,
        body=text[: chat_services.MAX_BODY],
        client_id=f"{platform}-{row.msg_id}",
    )
    chat_services.message_announce(message)
    return message, opened


def _into_ticket(
    identity: PlatformIdentity, requester: User, platform: str, text: str
) -> tuple[Ticket, Any, bool]:
    """Add to the open ticket this sender's platform messages went to (as this requester),
    else open one: (ticket, its message, whether it was opened now)."""
    body = text[: MAX_BODY - 100]
    ticket = selectors.open_ticket_of(identity=identity, requester=requester)
    if ticket is not None:
        message = ticket_reply(ticket=ticket, author=requester, body=body, channel=Channel.WECOM)
        return ticket, message, False
    with translation.override(requester.language or settings.LANGUAGE_CODE):
        words = " ".join(text.split())
        if len(words) > MAX_SUBJECT_WORDS:
            words = words[:MAX_SUBJECT_WORDS] + "…"
        subject = _("%(platform)s: %(words)s") % {
            "platform": PLATFORM_NAMES[platform],
            "words": words or _("a message"),
        }
    ticket = ticket_open(
        actor=f"system:{platform}",
        organisation=requester.organisation,
        requester=requester,
        subject=subject[:200],
        body=body,
        kind=Kind.QUESTION,
        channel=Channel.WECOM,
    )
    return ticket, ticket.messages.order_by("pk").first(), True


def _unidentified_contact(identity: PlatformIdentity, platform: str) -> User:
    """An inactive stand-in contact for an unbound sender, in the unidentified-senders
    organisation of the first region; its address is a placeholder nobody receives."""
    from accounts.services import organisation_create
    from accounts.services.users import user_create, user_set_access

    region = account_selectors.region_for_line("")
    organisation: Organisation | None = account_selectors.organisation_by_name(
        name=UNKNOWN_SENDERS, region=region
    )
    actor = f"system:{platform}"
    if organisation is None:
        organisation = organisation_create(actor=actor, name=UNKNOWN_SENDERS, region=region)
    with translation.override(settings.LANGUAGE_CODE):
        name = f"{PLATFORM_NAMES[platform]} #{identity.pk}"
    contact = user_create(
        email=f"{platform}-{secrets.token_hex(8)}@unidentified.invalid",
        full_name=name,
        organisation=organisation,
        actor=actor,
    )
    contact = user_set_access(user=contact, actor=actor, is_active=False)
    platform_identity_set_contact(identity=identity, contact=contact)
    return contact


def _text(row: PlatformMessage, fields: dict[str, str]) -> str:
    """The message as agents read it, in the desk's language for what is not the sender's
    own words."""
    with translation.override(settings.LANGUAGE_CODE):
        if row.msg_type == "text":
            return (fields.get("Content") or "").strip() or _("(an empty message)")
        if row.msg_type == "image":
            return _("A photo, sent on WeChat or WeCom: %(url)s") % {
                "url": row.pic_url or _("(no link: see the media id)")
            }
        transcript = (fields.get("Recognition") or "").strip()
        if transcript:
            return _("A voice message; the platform's transcript: %(text)s") % {"text": transcript}
        return _("A voice message without a transcript (its media id is kept for 3 days).")


def _link(row: PlatformMessage, identity: PlatformIdentity, platform: str, code: str) -> Received:
    """A message that is a linking code from the portal's profile (issue 23, point 2): bind
    the sender to the account that made it, and say so; the code is filed nowhere else."""
    try:
        with transaction.atomic():  # a savepoint: a refused code leaves the message's row
            user = platforms.platform_bind_code_redeem(
                identity=identity, code=code, now=row.received_at
            )
    except ApplicationError:
        row.outcome = PlatformOutcome.LINK_REFUSED
        reply = _in(_language(identity, ""), _link_refused_reply)
    else:
        row.outcome = PlatformOutcome.LINKED
        reply = _in(user.language or "zh-hans", _linked_reply, platform)
    row.save(update_fields=["identity", "outcome"])
    audit_record(
        action="platform.message_received",
        actor=f"system:{platform}",
        target=row,
        data={"message": row.pk, "type": row.msg_type, "outcome": row.outcome},
    )
    return Received(outcome=row.outcome, reply=reply, row_id=row.pk)


def _linked_reply(platform: str) -> str:
    return _(
        "This %(platform)s is now linked to your WeldDesk account: write here about your "
        "machines and tickets, and the desk's answers come here."
    ) % {"platform": PLATFORM_NAMES[platform]}


def _link_refused_reply() -> str:
    return _(
        "This linking code is not valid or has expired. Create a new one in your WeldDesk "
        "profile and send it within 15 minutes."
    )


def _language(identity: PlatformIdentity, text: str) -> str:
    """The bound customer's language; else the language the sender wrote in; else Chinese
    (the platforms' users)."""
    user = identity.user
    if user is not None and user.language:
        return user.language
    return intents.language_of(text) or "zh-hans"


def _in(language: str, compose, *args) -> str:
    with translation.override(language):
        return compose(*args)


def _unsupported_reply() -> str:
    return _(
        "The service desk reads text, photos and voice messages here. Please write your question."
    )


def _chat_opened_reply() -> str:
    return _("You are connected to the WeldDesk service desk: an agent will answer you here.")


def _ticket_opened_reply(ticket: Ticket) -> str:
    return _(
        "No agent is free right now. Your message is in ticket %(ref)s; we will answer you here."
    ) % {"ref": ticket.reference}


def _bind_reply(platform: str, ticket: Ticket) -> str:
    return _(
        "Your message is kept for the service desk (%(ref)s). To be answered about your "
        "machines and tickets here, link this %(platform)s to your WeldDesk account: sign in "
        "at %(url)s and open your profile."
    ) % {
        "ref": ticket.reference,
        "platform": PLATFORM_NAMES[platform],
        "url": f"{settings.SITE_URL}/portal/profile/",
    }


def platform_media_fetch(*, row_id: int) -> str:
    """Copy the photo of a received message into the chat or ticket message it became,
    through the upload checks (type by content, size, malware scan): "copied", "refused",
    "unavailable" (the platform could not give it: the text keeps its link), or "nothing"
    (no photo, or done before). Outside any request: the platform waits for nobody."""
    row = (
        PlatformMessage.objects.select_related(
            "ticket__requester", "ticket_message", "chat_message__conversation"
        )
        .filter(pk=row_id, msg_type="image", media_copied=False)
        .first()
    )
    if row is None or not row.media_id or not (row.ticket_id or row.chat_message_id):
        return "nothing"
    try:
        data, content_type = platform_clients.media_get(
            platform=row.platform, media_id=row.media_id, limit=settings.ATTACHMENT_MAX_BYTES
        )
    except WeComError as exc:
        log.warning("%s message %s: photo not copied (%s)", row.platform, row.pk, exc)
        return "unavailable"
    name = f"{row.platform}-photo-{row.msg_id}{PHOTO_EXTENSIONS.get(content_type, '')}"
    upload = SimpleUploadedFile(name, data, content_type)
    outcome = "copied"
    try:
        if row.chat_message is not None:
            message = row.chat_message
            attachment = chat_services.attachment_upload(
                conversation=message.conversation, user=message.sender, upload=upload
            )
            chat_services.attachment_link(attachment=attachment, message=message)
        else:
            actor = f"system:{row.platform}"
            attachment_store.check(upload, actor=actor, target=row.ticket)
            with transaction.atomic():
                # The sender's, so their erasure deletes it; outside their upload quota.
                attachment_store.save(
                    ticket=row.ticket,
                    upload=upload,
                    actor=None,
                    message=row.ticket_message,
                    owner=row.ticket.requester,
                )
    except ApplicationError as exc:
        log.info("%s message %s: photo refused (%s)", row.platform, row.pk, exc.code)
        outcome = "refused"
    PlatformMessage.objects.filter(pk=row.pk).update(media_copied=True)
    return outcome


@transaction.atomic
def platform_erase_person(*, user: Any, actor: Any) -> int:
    """Erasure: the messages the person sent from a platform keep their outcome and where they
    went, not the media references (their identities go with the account)."""
    identities = PlatformIdentity.objects.filter(user=user) | PlatformIdentity.objects.filter(
        contact=user
    )
    erased = PlatformMessage.objects.filter(identity__in=identities).update(media_id="", pic_url="")
    if erased:
        audit_record(
            action="intake.platform_messages_erased", actor=actor, data={"messages": erased}
        )
    return erased


def platform_messages_expire(*, received_before: Any, dry_run: bool) -> dict[str, int]:
    """Retention: received platform messages older than the limit are deleted (the MsgId only
    stops the platform's retries, which come within seconds)."""
    old = PlatformMessage.objects.filter(received_at__lt=received_before)
    count = old.count()
    if not dry_run and count:
        old.delete()
    return {"platform_messages": count}
