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
from chat.models import ChatMessage, Conversation, ConversationStatus
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


def _clean(body: Any, client_id: Any) -> tuple[str, str]:
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise ApplicationError(
            _("A message needs a client id of 1 to 64 letters, digits or _ . : -."),
            code="bad_client_id",
        )
    body = body.strip() if isinstance(body, str) else ""
    if not body:
        raise ApplicationError(_("Write a message."), code="empty")
    if len(body) > MAX_BODY:
        raise ApplicationError(
            _("A chat message has at most %(n)s characters.") % {"n": MAX_BODY}, code="too_long"
        )
    return body, client_id


def message_post(
    *, conversation: Conversation, sender: Any, body: Any, client_id: Any, is_bot: bool = False
) -> tuple[ChatMessage, bool]:
    """Store a message once; return it and whether it is new (False: a resend of a stored one)."""
    body, client_id = _clean(body, client_id)
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
        )
    conversation.last_seq = message.seq
    return message, True


def messages_after(*, conversation: Conversation, last_seq: int, limit: int = 500) -> list:
    """The stored messages numbered after last_seq, in order (at most `limit`)."""
    return list(
        ChatMessage.objects.filter(conversation=conversation, seq__gt=max(0, int(last_seq)))
        .select_related("sender")
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
