"""Celery tasks of the chat: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from chat import presence


@shared_task(name="chat.presence_sweep")
def presence_sweep() -> dict:
    return {
        "offline": presence.presence_sweep(),
        "assigned": presence.assign_waiting(),
        "standby_called": presence.surge_check(),
    }


@shared_task(name="chat.rescan_attachments")
def rescan_attachments() -> dict:
    from chat import services

    return services.chat_attachments_rescan()


@shared_task(name="chat.sweep_attachments")
def sweep_attachments() -> int:
    from chat import services

    return services.chat_attachments_sweep_orphans()
