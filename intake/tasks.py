"""Celery tasks of intake: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from intake.alarms import services as alarm_services
from intake.mail import imap


@shared_task(name="intake.mail_poll")
def mail_poll() -> dict:
    """Read every configured mailbox once (beat, every minute; `mail_poll --idle` instead
    waits on one mailbox for the server's news)."""
    return imap.poll_mailboxes()


@shared_task(name="intake.silent_machines")
def silent_machines() -> dict:
    """Open a "machine silent" ticket for watched machines that stopped reporting (beat)."""
    return alarm_services.silent_machines_watch()


@shared_task(name="intake.platform_media_fetch")
def platform_media_fetch(row_id: int) -> str:
    """Copy a photo sent by WeChat or WeCom into the desk, once, after the message's commit
    (best effort: the message's text holds the photo's link, the row its media id)."""
    from intake.wechat.services import platform_media_fetch as fetch

    return fetch(row_id=row_id)
