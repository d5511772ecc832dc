"""Reads of the chat app for other apps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from chat.models import Conversation


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
