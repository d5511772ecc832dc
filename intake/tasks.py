"""Celery tasks of intake: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from intake.mail import imap


@shared_task(name="intake.mail_poll")
def mail_poll() -> dict:
    """Read every configured mailbox once (beat, every minute; `mail_poll --idle` instead
    waits on one mailbox for the server's news)."""
    return imap.poll_mailboxes()
