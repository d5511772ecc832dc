"""Every write of the chat: open a conversation, post a message (once), mark messages read.

A message is numbered and stored in one transaction before anyone is told about it, so the
acknowledgement a client receives names a message that exists. The client's own id for the
message is unique per conversation: a resend after a lost acknowledgement finds the stored
message and gets the same number back, never a second copy.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from chat import presence
from chat.models import ChatAttachment, ChatMessage, Conversation, ConversationStatus
from core.errors import ApplicationError, Forbidden, NotFound
from tickets.models import QueueMember
from tickets.services import assignment

MAX_BODY = 4000
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def can_join(*, user: Any, conversation: Conversation) -> bool:
    """A customer joins their own conversations; an agent those of their queues (or assigned)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if not user.is_staff:
        return conversation.customer_id == user.pk
    if conversation.agent_id == user.pk:
        return True
    if conversation.queue_id is None:
        return False
    if conversation.queue.supervisor_id == user.pk:
        return True
    return QueueMember.objects.filter(queue_id=conversation.queue_id, agent=user).exists()


def conversation_for(*, user: Any, pk: int) -> Conversation:
    """Return the conversation if the user may join it; else NotFound (never says why)."""
    conversation = (
        Conversation.objects.select_related("queue", "customer", "agent").filter(pk=pk).first()
    )
    if conversation is None or not can_join(user=user, conversation=conversation):
        if conversation is not None:
            audit_record(action="access.denied", actor=user, target=conversation, outcome="denied")
        raise NotFound(_("No such conversation."))
    return conversation


@transaction.atomic
def conversation_open(*, customer: Any, unit: Any = None) -> Conversation:
    """Start a conversation for a customer, in the queue of their region and machine."""
    if customer is None or customer.is_staff or customer.organisation_id is None:
        raise Forbidden(_("Only customers start conversations."))
    if unit is not None and unit.organisation_id != customer.organisation_id:
        raise ApplicationError(
            _("This machine does not belong to your organisation."),
            fields={"unit": [_("Choose one of your organisation's machines.")]},
        )
    organisation = customer.organisation
    queue = assignment.route_queue(
        region_id=organisation.region_id,
        product_line=unit.machine_model.product_line if unit is not None else "",
    )
    conversation = Conversation.objects.create(
        organisation=organisation, customer=customer, unit=unit, queue=queue
    )
    audit_record(
        action="chat.opened",
        actor=customer,
        target=conversation,
        data={"queue": conversation.queue_id, "unit": conversation.unit_id},
    )
    presence.assign_waiting()
    conversation.refresh_from_db(fields=["status", "agent"])
    return conversation


def _clean(body: Any, client_id: Any, *, allow_empty: bool = False) -> tuple[str, str]:
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise ApplicationError(
            _("A message needs a client id of 1 to 64 letters, digits or _ . : -."),
            code="bad_client_id",
        )
    body = body.strip() if isinstance(body, str) else ""
    if not body and not allow_empty:
        raise ApplicationError(_("Write a message."), code="empty")
    if len(body) > MAX_BODY:
        raise ApplicationError(
            _("A chat message has at most %(n)s characters.") % {"n": MAX_BODY}, code="too_long"
        )
    return body, client_id


def message_post(
    *,
    conversation: Conversation,
    sender: Any,
    body: Any,
    client_id: Any,
    is_bot: bool = False,
    payload: dict | None = None,
    attachment_ids: Any = (),
) -> tuple[ChatMessage, bool]:
    """Store a message once; return it and whether it is new (False: a resend of a stored one).

    `attachment_ids` names files the sender uploaded to this conversation and has not sent
    yet; a message with files may have an empty text.
    """
    ids = _attachment_ids(attachment_ids)
    body, client_id = _clean(body, client_id, allow_empty=bool(ids))  # files need no text
    with transaction.atomic():
        # The row lock orders the numbers and makes the duplicate check race-free.
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        existing = ChatMessage.objects.filter(conversation=locked, client_id=client_id).first()
        if existing is not None:
            return existing, False
        if locked.status == ConversationStatus.CLOSED:
            raise ApplicationError(_("This conversation is closed."), code="closed")
        locked.last_seq += 1
        locked.save(update_fields=["last_seq"])
        message = ChatMessage.objects.create(
            conversation=locked,
            seq=locked.last_seq,
            client_id=client_id,
            sender=sender if getattr(sender, "pk", None) else None,
            from_customer=bool(sender is not None and not sender.is_staff and not is_bot),
            is_bot=is_bot,
            body=body,
            payload=payload or {},
        )
        if ids:
            linked = ChatAttachment.objects.filter(
                pk__in=ids,
                conversation=locked,
                uploaded_by_id=getattr(sender, "pk", None),
                message__isnull=True,
            ).update(message=message)
            if linked != len(ids):
                raise ApplicationError(
                    _("Attach only files you uploaded to this chat, each once."),
                    code="bad_attachment",
                )
    conversation.last_seq = message.seq
    return message, True


MAX_ATTACHMENTS = 5


def _attachment_ids(value: Any) -> list[int]:
    if not value:
        return []
    if (
        not isinstance(value, list | tuple)
        or len(value) > MAX_ATTACHMENTS
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ApplicationError(
            _("Attach at most %(n)s files, by their ids.") % {"n": MAX_ATTACHMENTS},
            code="bad_attachment",
        )
    return sorted(set(value))


@transaction.atomic
def attachment_upload(*, conversation: Conversation, user: Any, upload: Any) -> ChatAttachment:
    """Check an uploaded file like a ticket attachment (size, type by content) and store it."""
    from tickets.services.attachments import check_upload

    if conversation.status == ConversationStatus.CLOSED:
        raise ApplicationError(_("This conversation is closed."), code="closed")
    checked = check_upload(upload)
    attachment = ChatAttachment(
        conversation=conversation,
        uploaded_by=user,
        original_name=checked.name,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        is_image=checked.is_image,
    )
    upload.seek(0)
    attachment.file.save("upload", upload, save=False)
    attachment.save(force_insert=True)
    return attachment


def messages_after(*, conversation: Conversation, last_seq: int, limit: int = 500) -> list:
    """The stored messages numbered after last_seq, in order (at most `limit`)."""
    return list(
        ChatMessage.objects.filter(conversation=conversation, seq__gt=max(0, int(last_seq)))
        .select_related("sender")
        .prefetch_related("attachments")
        .order_by("seq")[:limit]
    )


def messages_read(*, conversation: Conversation, reader: Any, up_to: int) -> int:
    """Mark the other side's messages up to a number as read; return how many changed."""
    mine = {"from_customer": True} if not reader.is_staff else {"from_customer": False}
    return (
        ChatMessage.objects.filter(conversation=conversation, seq__lte=int(up_to), read_at=None)
        .exclude(**mine)
        .update(read_at=timezone.now())
    )


def transcript(conversation: Conversation) -> str:
    """The conversation as plain text, one message a paragraph, in the desk's time zone."""
    lines = []
    for message in conversation.messages.select_related("sender").order_by("seq"):
        if message.is_bot:
            who = "WeldDesk bot"
        elif message.sender is not None:
            who = message.sender.full_name
        else:
            who = "—"
        at = timezone.localtime(message.created_at).strftime("%Y-%m-%d %H:%M")
        lines.append(f"[{at}] {who}: {message.body}")
    return "\n\n".join(lines) or _("(no messages)")


def _first_words(conversation: Conversation) -> str:
    first = conversation.messages.filter(from_customer=True).order_by("seq").first()
    text = " ".join((first.body if first else "").split())
    return (text[:80] + "…") if len(text) > 80 else text


@transaction.atomic
def conversation_close(*, conversation: Conversation, actor: Any) -> Conversation:
    """Close the chat: its transcript goes to the linked ticket (opened now if there is none)."""
    from tickets.models import Channel, Kind
    from tickets.services import tickets as ticket_services

    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.status == ConversationStatus.CLOSED:
        return locked
    text = _("Chat transcript") + "\n\n" + transcript(locked)
    if locked.ticket_id is None:
        subject = _("Chat: %(words)s") % {"words": _first_words(locked) or _("no message")}
        ticket = ticket_services.ticket_open(
            actor=actor,
            organisation=locked.organisation,
            requester=locked.customer,
            unit=locked.unit,
            subject=subject[:200],
            body=text[: ticket_services.MAX_BODY],
            kind=Kind.FAULT if locked.unit_id else Kind.QUESTION,
            channel=Channel.CHAT,
        )
        locked.ticket = ticket
    else:
        author = actor if getattr(actor, "is_staff", False) else locked.agent
        ticket_services.ticket_reply(
            ticket=locked.ticket,
            author=author or locked.customer,
            body=text[: ticket_services.MAX_BODY],
            internal=author is not None,
            channel=Channel.CHAT,
        )
    locked.status = ConversationStatus.CLOSED
    locked.closed_at = timezone.now()
    locked.save(update_fields=["status", "closed_at", "ticket"])
    audit_record(
        action="chat.closed", actor=actor, target=locked, data={"ticket": locked.ticket_id}
    )
    return locked


@transaction.atomic
def conversation_rate(
    *, conversation: Conversation, user: Any, rating: Any, comment: Any = ""
) -> Conversation:
    """The customer rates a closed chat, once."""
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if user is None or locked.customer_id != getattr(user, "pk", None):
        raise Forbidden(_("Only the customer rates the chat."))
    if locked.status != ConversationStatus.CLOSED:
        raise ApplicationError(_("Rate the chat once it is closed."), code="not_closed")
    if locked.rated_at is not None:
        raise ApplicationError(_("Thank you, this chat is rated already."), code="already_rated")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ApplicationError(_("Choose a rating from 1 to 5."), code="bad_rating")
    comment = comment.strip() if isinstance(comment, str) else ""
    if len(comment) > 2000:
        raise ApplicationError(_("Use at most 2000 characters."), code="too_long")
    locked.rating, locked.rating_comment, locked.rated_at = rating, comment, timezone.now()
    locked.save(update_fields=["rating", "rating_comment", "rated_at"])
    audit_record(
        action="chat.rated",
        actor=user,
        target=locked,
        data={"rating": rating, "with_comment": bool(comment)},
    )
    return locked


def conversation_current(*, customer: Any) -> Conversation | None:
    """The customer's latest conversation that is not closed, if any."""
    return (
        Conversation.objects.filter(customer=customer)
        .exclude(status=ConversationStatus.CLOSED)
        .order_by("-created_at", "-pk")
        .first()
    )


def conversation_latest(*, customer: Any) -> Conversation | None:
    """The customer's latest conversation, closed or not (to rate a closed one)."""
    return Conversation.objects.filter(customer=customer).order_by("-created_at", "-pk").first()


def conversation_messages(*, conversation: Conversation, limit: int = 200) -> list:
    """The last `limit` messages, oldest first, with their senders."""
    newest = list(
        conversation.messages.select_related("sender")
        .prefetch_related("attachments")
        .order_by("-seq")[:limit]
    )
    return newest[::-1]
