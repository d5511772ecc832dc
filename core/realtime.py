"""Send Channels group events after the transaction commits."""

from __future__ import annotations

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def publish_now(group: str, event: dict) -> bool:
    """Send an event to a channel group; return False if the layer is unreachable."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception as exc:
        log.warning("could not publish %s to %s (%s)", event.get("type"), group, type(exc).__name__)
        return False
    return True


def publish_on_commit(group: str, event: dict, *, using: str | None = None) -> None:
    """Send the event after commit, so clients never see data that was rolled back."""
    transaction.on_commit(partial(publish_now, group, event), using=using)
