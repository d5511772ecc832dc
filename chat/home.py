"""The chat block of the agents' home (core.home): chats waiting for an agent."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from chat import selectors
from chat.models import ConversationStatus
from core.home import Block, Row


def chat_blocks(request: Any) -> list[Block]:
    """The chats of my queues waiting for an agent, longest wait first; the link is the
    console's list filtered to waiting chats (the same scope)."""
    user = request.user
    if not user.has_perm("chat.view_conversation"):
        return []
    count, chats = selectors.waiting_chats(user=user)
    now = timezone.now()
    rows = [
        Row(
            text=str(chat.organisation),
            url=reverse("admin:chat_conversation_change", args=[chat.pk]),
            note=_("waiting %(m)d min") % {"m": int((now - chat.created_at).total_seconds() // 60)},
        )
        for chat in chats
    ]
    query = urlencode({"status__exact": ConversationStatus.WAITING.value})
    return [
        Block(
            key="chat-waiting",
            title=_("Chats waiting"),
            count=count,
            rows=rows,
            link=f"{reverse('admin:chat_conversation_changelist')}?{query}",
            link_text=_("Open the chat list"),
            empty=_("Nothing waiting."),
            order=40,
        )
    ]
