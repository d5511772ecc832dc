"""Reads of the chat app for other apps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch

from chat.models import ChatAttachment, ChatMessage, Conversation


def organisations_with_chats(
    *, start: dt.datetime, end: dt.datetime, region_ids: list[int] | None
) -> Any:
    """(organisation id, tier) of every chat started in a window by customers of active
    organisations in these regions (None: all), one row per chat, in one query."""
    chats = Conversation.objects.filter(
        created_at__gte=start, created_at__lte=end, organisation__is_active=True
    )
    if region_ids is not None:
        chats = chats.filter(organisation__region_id__in=region_ids)
    return chats.order_by("organisation_id").values_list("organisation_id", "organisation__tier")


def person_chats(user: Any) -> list[dict[str, Any]]:
    """The person's chats for a data-subject export: the desk's side appears as "WeldDesk"."""
    found = []
    chats = Conversation.objects.filter(customer=user).order_by("created_at")
    ordered = Prefetch("messages", queryset=ChatMessage.objects.order_by("seq"))
    for conversation in chats.prefetch_related(ordered):
        messages = conversation.messages.all()
        found.append(
            {
                "started": conversation.created_at,
                "closed": conversation.closed_at,
                "rating": conversation.rating,
                "rating_comment": conversation.rating_comment,
                "messages": [
                    {
                        "from": "you"
                        if m.sender_id == user.pk
                        else ("bot" if m.is_bot else "WeldDesk"),
                        "at": m.created_at,
                        "body": m.body,
                    }
                    for m in messages
                ],
            }
        )
    return found


def person_uploads(user: Any) -> list[tuple[str, Any]]:
    """(archive name, file) of every chat attachment the person uploaded."""
    return [
        (f"attachments/chats/{a.pk}-{a.original_name}", a.file)
        for a in ChatAttachment.objects.filter(uploaded_by=user).order_by("pk")
    ]
