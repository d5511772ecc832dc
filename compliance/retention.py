"""Retention: the periods of core/privacy.py applied every night, with a dry run, audited.

- chat transcripts, RETENTION_CHAT_DAYS after closing (365): messages become a placeholder,
  uploads are deleted;
- closed tickets, RETENTION_TICKET_DAYS after closing (3 years): the customers' messages
  become a placeholder, uploads are deleted, survey comments emptied;
- call records, RETENTION_CALL_DAYS (90): the caller's number is removed;
- sent notices, RETENTION_OUTBOX_DAYS (90): deleted; so are WeChat/WeCom messages received
  (their MsgId and media references; the text lives in the chat or ticket);
- delivery details, RETENTION_DELIVERY_DAYS after delivery (365): address and phone emptied;
- machines' alarms, RETENTION_ALARM_DAYS after receipt (180): deleted (machine data, not
  personal, but a fleet's alarms grow without end).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit.services import audit_record
from chat import services as chat_services
from equipment import alarm_services
from intake import services as intake_services
from intake.mail import services as mail_services
from intake.wechat import services as wechat_services
from logistics import services as logistics_services
from notifications import services as notification_services
from tickets.services import tickets as ticket_services


def retention_run(*, dry_run: bool = False, now: dt.datetime | None = None) -> dict[str, Any]:
    """Apply every period once; return (and audit) what was, or would be, removed."""
    now = now or timezone.now()

    def before(days: int) -> dt.datetime:
        return now - dt.timedelta(days=days)

    counts = {
        "chats": chat_services.chats_expire(
            closed_before=before(settings.RETENTION_CHAT_DAYS), dry_run=dry_run
        ),
        "tickets": ticket_services.tickets_expire(
            closed_before=before(settings.RETENTION_TICKET_DAYS), dry_run=dry_run
        ),
        "calls": intake_services.calls_expire(
            started_before=before(settings.RETENTION_CALL_DAYS), dry_run=dry_run
        ),
        "mails": mail_services.mails_expire(
            received_before=before(settings.RETENTION_OUTBOX_DAYS), dry_run=dry_run
        ),
        "platform_messages": wechat_services.platform_messages_expire(
            received_before=before(settings.RETENTION_OUTBOX_DAYS), dry_run=dry_run
        ),
        "outbox": notification_services.outbox_expire(
            created_before=before(settings.RETENTION_OUTBOX_DAYS), dry_run=dry_run
        ),
        "shipments": logistics_services.shipments_expire(
            delivered_before=before(settings.RETENTION_DELIVERY_DAYS), dry_run=dry_run
        ),
        "alarms": alarm_services.alarms_expire(
            received_before=before(settings.RETENTION_ALARM_DAYS), dry_run=dry_run
        ),
    }
    audit_record(
        action="privacy.retention_dry_run" if dry_run else "privacy.retention_run",
        actor="system:retention",
        data=counts,
    )
    return counts
