"""Deploy checks of inbound e-mail (`manage.py check --deploy`)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_mail_sender_authentication(app_configs=None, **kwargs) -> list[Warning]:
    """Mail comes in (the endpoint or a mailbox) but no mail server vouches for senders: a
    forged From address could then answer any customer's ticket (docs/email.md)."""
    try:
        mailboxes = json.loads(settings.MAIL_IMAP_MAILBOXES or "[]")
    except ValueError:
        mailboxes = []
    receiving = bool(settings.MAIL_INGEST_TOKEN) or bool(mailboxes)
    if receiving and not settings.MAIL_AUTHSERV_ID.strip():
        return [
            Warning(
                "Inbound e-mail is on but MAIL_AUTHSERV_ID is empty: the From address of a "
                "mail is believed, so a forged sender could add to a customer's ticket.",
                hint="Set MAIL_AUTHSERV_ID to the authserv-id your mail server writes in "
                "Authentication-Results (and strips from incoming mail).",
                id="welddesk.W012",
            )
        ]
    return []
