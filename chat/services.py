"""Every write of the chat: open a conversation, post a message (once), mark messages read.

A message is numbered and stored in one transaction before anyone is told about it, so the
acknowledgement a client receives names a message that exists. The client's own id for the
message is unique per conversation: a resend after a lost acknowledgement finds the stored
message and gets the same number back, never a second copy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.permissions import scope_by_organisation
from audit.services import audit_record
from chat import presence
from chat.frames import message_frame
from chat.models import ChatAttachment, ChatMessage, Conversation, ConversationStatus
from core import malware, storage
from core.errors import ApplicationError, Forbidden, NotFound
from core.models import delete_with_files
from core.realtime import publish_on_commit
from notifications.messages import answer_on_platform
from tickets.selectors import is_queue_member
from tickets.services import assignment

MAX_BODY = 4000
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def can_join(*, user: Any, conversation: Conversation) -> bool:
    """A customer joins their own conversations; an agent those of their queues (or assigned),
    of the regions they may see (as in the console)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if not user.is_staff:
        return conversation.customer_id == user.pk
    mine = Conversation.objects.filter(pk=conversation.pk)
    if not scope_by_organisation(user, mine).exists():
        return False
    if conversation.agent_id == user.pk:
        return True
    if conversation.queue_id is None:
        return False
    if conversation.queue.supervisor_id == user.pk:
        return True
    return is_queue_member(queue_id=conversation.queue_id, agent=user)


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


def attachment_for(*, user: Any, pk: int) -> ChatAttachment:
    """Return a chat file if the user may join its conversation; else NotFound, and a file of
    someone else's conversation is audited like any refused object."""
    item = ChatAttachment.objects.select_related("conversation__queue").filter(pk=pk).first()
    if item is None or not can_join(user=user, conversation=item.conversation):
        if item is not None:
            audit_record(action="access.denied", actor=user, target=item, outcome="denied")
        raise NotFound(_("No such file."))
    return item


@transaction.atomic
def conversation_open(*, customer: Any, unit: Any = None, platform: str = "") -> Conversation:
    """Start a conversation for a customer, in the queue of their region and machine.

    `platform`: the messaging platform the customer writes from (intake.wechat): the desk's
    answers are sent there too."""
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
        organisation=organisation, customer=customer, unit=unit, queue=queue, platform=platform
    )
    audit_record(
        action="chat.opened",
        actor=customer,
        target=conversation,
        data={
            "queue": conversation.queue_id,
            "unit": conversation.unit_id,
            **({"platform": platform} if platform else {}),
        },
    )
    presence.assign_waiting()
    conversation.refresh_from_db(fields=["status", "agent"])
    return conversation


def conversation_platform_set(*, conversation: Conversation, platform: str) -> None:
    """The customer now writes from a messaging platform: the desk's answers go there too."""
    if conversation.platform != platform:
        Conversation.objects.filter(pk=conversation.pk).update(platform=platform)
        conversation.platform = platform


def message_announce(message: ChatMessage) -> None:
    """Show a message stored outside a socket (one that came by WeChat) to the conversation's
    open sockets, after commit."""
    publish_on_commit(
        f"chat.{message.conversation_id}",
        {"type": "chat.event", "frame": message_frame(message, files=[])},
    )


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


@dataclass
class Post:
    """One message to store: what message_post takes, as one item of a batch."""

    conversation: Conversation
    sender: Any
    body: Any
    client_id: Any
    is_bot: bool = False
    payload: dict | None = None
    attachment_ids: Any = ()


# What storing one Post gave: the message and whether it is new, or the refusal.
Stored = tuple[ChatMessage, bool] | ApplicationError


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
    post = Post(conversation, sender, body, client_id, is_bot, payload, attachment_ids)
    (result,) = messages_post_many([post])
    if isinstance(result, ApplicationError):
        raise result
    return result


@transaction.atomic
def messages_post_many(posts: list[Post]) -> list[Stored]:
    """Store a batch of messages from any conversations in one transaction (group commit).

    The same rules as one message_post each, in the order given: numbers in order under the
    conversations' row locks, a client id stored once, nothing in a closed conversation, files
    only the sender's own unsent ones. A refused message is refused alone; the others are
    stored. A fixed number of statements whatever the batch's size (plus one per message with
    files): the chat consumers of a process send their messages through one writer
    (chat/writer.py) that passes everything waiting as one batch.
    """
    results: list[Stored | None] = [None] * len(posts)
    cleaned: dict[int, tuple[str, str, list[int]]] = {}
    for i, post in enumerate(posts):
        try:
            ids = _attachment_ids(post.attachment_ids)
            body, client_id = _clean(post.body, post.client_id, allow_empty=bool(ids))
        except ApplicationError as exc:
            results[i] = exc
        else:
            cleaned[i] = (body, client_id, ids)
    if not cleaned:
        return results  # type: ignore[return-value]
    conversation_ids = sorted({posts[i].conversation.pk for i in cleaned})
    # The row locks (taken in one order, so two batches never deadlock) order the numbers and
    # make the duplicate check race-free.
    locked = {
        c.pk: c
        for c in Conversation.objects.select_for_update()
        .filter(pk__in=conversation_ids)
        .order_by("pk")
        .only("pk", "status", "last_seq", "platform", "customer_id")
    }
    known = {
        (m.conversation_id, m.client_id): m
        for m in ChatMessage.objects.filter(
            conversation_id__in=conversation_ids,
            client_id__in={client_id for _b, client_id, _i in cleaned.values()},
        ).only("pk", "conversation_id", "seq", "client_id")
    }
    files = _unsent_files(posts, cleaned)
    new: list[ChatMessage] = []
    numbered: dict[int, int] = {}  # conversation -> its new last number
    linked: list[tuple[ChatMessage, list[int]]] = []
    for i, (body, client_id, ids) in cleaned.items():
        post = posts[i]
        conversation = locked.get(post.conversation.pk)
        if conversation is None:
            results[i] = NotFound(_("No such conversation."))
            continue
        post.conversation.status = conversation.status
        existing = known.get((conversation.pk, client_id))
        if existing is not None:
            results[i] = (existing, False)
            continue
        if conversation.status == ConversationStatus.CLOSED:
            results[i] = ApplicationError(_("This conversation is closed."), code="closed")
            continue
        sender_pk = getattr(post.sender, "pk", None)
        if ids and any(files.get(pk) != (conversation.pk, sender_pk) for pk in ids):
            results[i] = ApplicationError(
                _("Attach only files you uploaded to this chat, each once."),
                code="bad_attachment",
            )
            continue
        for pk in ids:
            files.pop(pk)  # each file goes with one message
        conversation.last_seq += 1
        numbered[conversation.pk] = conversation.last_seq
        message = ChatMessage(
            conversation=post.conversation,
            seq=conversation.last_seq,
            client_id=client_id,
            sender=post.sender if sender_pk else None,
            from_customer=bool(
                post.sender is not None and not post.sender.is_staff and not post.is_bot
            ),
            is_bot=post.is_bot,
            body=body,
            payload=post.payload or {},
        )
        new.append(message)
        known[(conversation.pk, client_id)] = message
        results[i] = (message, True)
        if ids:
            linked.append((message, ids))
    if new:
        _insert_messages(new)
        _update_from_rows(_SET_LAST_SEQ, list(numbered.items()))
        _answer_on_platforms(new, locked)
    for message, ids in linked:
        ChatAttachment.objects.filter(pk__in=ids).update(message=message)
    for post in posts:
        if post.conversation.pk in locked:
            post.conversation.last_seq = locked[post.conversation.pk].last_seq
    return results  # type: ignore[return-value]


def _answer_on_platforms(new: list[ChatMessage], locked: dict[int, Conversation]) -> None:
    """An agent's message in a chat whose customer writes from WeChat or WeCom goes to them
    there too, through notifications (in this transaction: the outbox row is written with
    the message). Nothing for the portal's chats, so the hot path pays nothing."""
    for message in new:
        conversation = locked[message.conversation_id]
        if not conversation.platform or message.from_customer or message.is_bot:
            continue
        if message.sender_id is None or not message.body:
            continue
        answer_on_platform(
            to=conversation.customer,
            platform=conversation.platform,
            text=message.body,
            key=f"chat-answer:{message.pk}",
            about=conversation,
        )


def _insert_messages(new: list[ChatMessage]) -> None:
    """Insert a batch's messages and set their ids: on PostgreSQL one hand-built INSERT.

    The ORM's bulk_create prepared every field of every row through its expressions and
    compiler, about half of the batch's time in the chat benchmark (docs/performance.md,
    Chat); this passes each column as one array. Only the body goes through its field
    (encrypted); the columns left out (erased, delivered_at, read_at) take their defaults.
    """
    if connection.vendor != "postgresql":
        ChatMessage.objects.bulk_create(new)
        return
    body = ChatMessage._meta.get_field("body")
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_MESSAGES,
            [
                [m.conversation_id for m in new],
                [m.seq for m in new],
                [m.client_id for m in new],
                [m.sender_id for m in new],
                [m.from_customer for m in new],
                [m.is_bot for m in new],
                [body.get_db_prep_save(m.body, connection) for m in new],
                [json.dumps(m.payload) for m in new],
                [m.created_at for m in new],
            ],
        )
        ids = {(conversation, seq): pk for pk, conversation, seq in cursor.fetchall()}
    for m in new:
        m.pk = ids[(m.conversation_id, m.seq)]
        m._state.adding = False
        m._state.db = connection.alias


# The rows come back with their numbers, so nothing rests on RETURNING's order.
_INSERT_MESSAGES = (
    "INSERT INTO chat_chatmessage"
    " (conversation_id, seq, client_id, sender_id, from_customer, is_bot, body, payload,"
    " created_at)"
    " SELECT * FROM unnest(%s::bigint[], %s::int[], %s::varchar[], %s::bigint[], %s::bool[],"
    " %s::bool[], %s::text[], %s::text[]::jsonb[], %s::timestamptz[])"
    " RETURNING id, conversation_id, seq"
)


def _unsent_files(posts: list[Post], cleaned: dict) -> dict[int, tuple[int, int]]:
    """The named files not sent yet, locked: their conversation and uploader, by id."""
    wanted = {pk for _b, _c, ids in cleaned.values() for pk in ids}
    if not wanted:
        return {}
    return {
        a.pk: (a.conversation_id, a.uploaded_by_id)
        for a in ChatAttachment.objects.select_for_update()
        .filter(pk__in=wanted, message__isnull=True)
        .only("pk", "conversation_id", "uploaded_by_id")
    }


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


def attachment_upload(*, conversation: Conversation, user: Any, upload: Any) -> ChatAttachment:
    """Check an uploaded file like a ticket attachment (size, type by content, malware scan)
    and store it. The scan runs before the transaction, so a refusal's audit row is kept."""
    from tickets.services.attachments import check_upload, scan_upload

    if conversation.status == ConversationStatus.CLOSED:
        raise ApplicationError(_("This conversation is closed."), code="closed")
    checked = check_upload(upload)
    scan_status = scan_upload(upload, checked, actor=user, target=conversation)
    with transaction.atomic():
        return _attachment_store(
            conversation=conversation, user=user, upload=upload, checked=checked, scan=scan_status
        )


@transaction.atomic
def attachment_link(*, attachment: ChatAttachment, message: ChatMessage) -> bool:
    """Attach a stored file to a message already sent by its uploader in its conversation (a
    photo sent by WeChat, copied in after the message); False if either does not fit."""
    updated = ChatAttachment.objects.filter(
        pk=attachment.pk,
        message__isnull=True,
        conversation_id=message.conversation_id,
        uploaded_by_id=message.sender_id,
    ).update(message=message)
    return bool(updated)


def _attachment_store(
    *, conversation: Conversation, user: Any, upload: Any, checked: Any, scan: str
) -> ChatAttachment:
    attachment = ChatAttachment(
        conversation=conversation,
        uploaded_by=user,
        original_name=checked.name,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        is_image=checked.is_image,
        scan_status=scan,
    )
    upload.seek(0)
    attachment.file.save("upload", upload, save=False)
    attachment.save(force_insert=True)
    return attachment


def chat_attachments_rescan(*, batch: int = 100) -> dict[str, int]:
    """Scan again the chat files held while clamd could not be reached (beat)."""
    return malware.rescan_quarantined(
        ChatAttachment.objects.all(), settle=chat_attachment_scan_settle, batch=batch
    )


def chat_attachments_sweep_orphans(*, older_than_s: int = 3600, batch: int = 1000) -> int:
    """Delete stored chat files that no ChatAttachment row names (an upload whose transaction
    rolled back, written before its row); return how many. Younger files may still be in
    flight and stay. Through the storage API, on the disk or in the bucket."""
    from django.core.files.storage import default_storage

    def known(keys) -> set:
        rows = ChatAttachment.objects.filter(storage_key__in=list(keys))
        return set(rows.values_list("storage_key", flat=True))

    return storage.sweep_orphans(
        storage=default_storage, prefix="chat", known=known, older_than_s=older_than_s, batch=batch
    )


@transaction.atomic
def chat_attachment_scan_settle(pk: int, verdict: malware.Verdict | None) -> str:
    """Release a held chat file found clean, or delete it (row and file) when clamd found
    malware in it or its file is gone; audited. Returns "released", "removed", or "" when it
    is no longer held."""
    held = ChatAttachment.objects.filter(pk=pk, scan_status=malware.ScanStatus.PENDING)
    locked = held.select_for_update().first()
    if locked is None:
        return ""
    if verdict is not None and verdict.clean:
        locked.scan_status = malware.ScanStatus.CLEAN
        locked.save(update_fields=["scan_status"])
        audit_record(action="upload.released", actor="system:scanner", target=locked)
        return "released"
    audit_record(
        action="upload.removed",
        actor="system:scanner",
        target=locked,
        outcome="denied",
        data={
            "reason": "malware" if verdict is not None else "file_missing",
            "signature": verdict.signature if verdict is not None else "",
            "sha256": locked.sha256,
        },
    )
    delete_with_files(ChatAttachment.objects.filter(pk=pk))
    return "removed"


def messages_after(*, conversation: Conversation, last_seq: int, limit: int = 500) -> list:
    """The stored messages numbered after last_seq, in order (at most `limit`)."""
    return list(
        ChatMessage.objects.filter(conversation=conversation, seq__gt=max(0, int(last_seq)))
        .select_related("sender")
        .prefetch_related("attachments")
        .order_by("seq")[:limit]
    )


def conversation_last_seq(*, conversation: Conversation) -> int:
    """The number of the conversation's latest stored message (0 before the first)."""
    return (
        Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True).first()
        or 0
    )


def messages_delivered(marks: list[tuple[int, int]]) -> int:
    """Set the delivery time of messages that reached the other side: (conversation, seq)s.

    One UPDATE for the whole list; a message keeps its first delivery time.
    """
    if not marks:
        return 0
    return _update_from_rows(_SET_DELIVERED, marks, timezone.now())


# Two hot statements of the chat, one per batch whatever its size: (id, value) rows go in as
# arrays on PostgreSQL and as JSON on SQLite (building a CASE or an OR per row in the ORM cost
# more than the database did).
_SET_LAST_SEQ = {
    "postgresql": "UPDATE chat_conversation AS c SET last_seq = v.seq"
    " FROM unnest(%s::bigint[], %s::int[]) AS v(id, seq) WHERE c.id = v.id",
    "sqlite": "UPDATE chat_conversation SET last_seq = v.seq FROM (SELECT"
    " json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS seq"
    " FROM json_each(%s)) AS v WHERE chat_conversation.id = v.id",
}
_SET_DELIVERED = {
    "postgresql": "UPDATE chat_chatmessage AS m SET delivered_at = %s"
    " FROM unnest(%s::bigint[], %s::int[]) AS v(conversation_id, seq)"
    " WHERE m.conversation_id = v.conversation_id AND m.seq = v.seq AND m.delivered_at IS NULL",
    "sqlite": "UPDATE chat_chatmessage SET delivered_at = %s FROM (SELECT"
    " json_extract(value, '$[0]') AS conversation_id, json_extract(value, '$[1]') AS seq"
    " FROM json_each(%s)) AS v WHERE chat_chatmessage.conversation_id = v.conversation_id"
    " AND chat_chatmessage.seq = v.seq AND chat_chatmessage.delivered_at IS NULL",
}


def _update_from_rows(sql: dict[str, str], rows: list[tuple[int, int]], *first: Any) -> int:
    """Run one of the statements above for (id, value) rows; return the rows changed."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids, values = zip(*rows, strict=True)
            cursor.execute(sql["postgresql"], [*first, list(ids), list(values)])
        else:
            if first:  # SQLite stores datetimes as text: let the field say how
                field = ChatMessage._meta.get_field("delivered_at")
                first = tuple(field.get_db_prep_value(v, connection) for v in first)
            cursor.execute(sql["sqlite"], [*first, json.dumps(rows)])
        return cursor.rowcount


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
        body = message.body
        # The bot's text introduces its articles; the page lists them as links. Name them here.
        titles = [link["text"] for link in message.links if link["kind"] == "articles"]
        if titles:
            body += "".join(f"\n• {title}" for title in titles)
        lines.append(f"[{at}] {who}: {body}")
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


@transaction.atomic
def chats_erase_person(*, user: Any, marks: Any, actor: Any) -> dict[str, int]:
    """Erasure: the person's chat messages become a placeholder, their uploads are deleted,
    their rating comments emptied, their name and contacts scrubbed from the desk's replies."""
    from core.privacy import ERASED

    written = ChatMessage.objects.filter(sender=user).update(body=ERASED, erased=True)
    scrubbed = 0
    for message in ChatMessage.objects.filter(conversation__customer=user).exclude(sender=user):
        if marks.found_in(message.body):
            message.body = marks.scrub(message.body)
            message.save(update_fields=["body"])
            scrubbed += 1
    uploads = delete_with_files(ChatAttachment.objects.filter(uploaded_by=user))
    comments = Conversation.objects.filter(customer=user).update(rating_comment="")
    counts = {
        "messages": written,
        "replies_scrubbed": scrubbed,
        "attachments": uploads,
        "rating_comments": comments,
    }
    audit_record(action="chat.person_erased", actor=actor, target=user, data=counts)
    return counts


def chats_expire(*, closed_before: Any, dry_run: bool) -> dict[str, int]:
    """Retention: chats closed before a moment lose what people wrote and uploaded."""
    from core.privacy import ERASED

    old = Conversation.objects.filter(closed_at__lt=closed_before)
    messages = ChatMessage.objects.filter(conversation__in=old, is_bot=False, erased=False)
    files = ChatAttachment.objects.filter(conversation__in=old)
    counts = {"chats": old.count(), "messages": messages.count(), "attachments": files.count()}
    if not dry_run:
        with transaction.atomic():
            messages.update(body=ERASED, erased=True)
            delete_with_files(files)
            old.update(rating_comment="")
    return counts
