"""The frames the chat server sends for stored messages (see docs/chat-protocol.md)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from chat.models import ChatMessage


def message_frame(message: ChatMessage, *, files: list | None = None) -> dict[str, Any]:
    """The frame of a stored message (reads its files unless given: call it in sync code)."""
    sender = message.sender
    attachments = message.attachments.all() if files is None else files
    files = [
        {
            "id": a.pk,
            "name": a.original_name,
            "type": a.content_type,
            # A file held for the virus scan is shown as a link, not an image: it answers 409.
            "image": a.is_image and a.scan_status != "pending",
            "size": a.size,
            "scan_status": a.scan_status,
            "url": reverse("chat:attachment", args=[a.pk]),
        }
        for a in attachments
    ]
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
