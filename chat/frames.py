"""The frames the chat server sends for stored messages and their files (see
docs/chat-protocol.md)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from chat.models import ChatAttachment, ChatMessage
from core.malware import ScanStatus


def attachment_frame(attachment: ChatAttachment) -> dict[str, Any]:
    """A chat file as the client sees it: in message frames and in the upload's answer."""
    return {
        "id": attachment.pk,
        "name": attachment.original_name,
        "type": attachment.content_type,
        # A file held for the virus scan is shown as a link, not an image: it answers 409.
        "image": attachment.is_image and attachment.scan_status != ScanStatus.PENDING,
        "size": attachment.size,
        "scan_status": attachment.scan_status,
        "url": reverse("chat:attachment", args=[attachment.pk]),
    }


def message_frame(message: ChatMessage, *, files: list | None = None) -> dict[str, Any]:
    """The frame of a stored message (reads its files unless given: call it in sync code)."""
    sender = message.sender
    attachments = message.attachments.all() if files is None else files
    files = [attachment_frame(a) for a in attachments]
    return {
        "type": "message",
        "seq": message.seq,
        "client_id": message.client_id,
        "body": message.body,
        "from_customer": message.from_customer,
        "bot": message.is_bot,
        "sender": sender.full_name if sender is not None else "",
        "at": message.created_at.isoformat(),
        **({"bot_data": message.payload} if message.is_bot and message.payload else {}),
        **({"attachments": files} if files else {}),
    }
