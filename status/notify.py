"""Telling people about incidents: subscribers by e-mail, customers with active tickets by
the channels they chose (read by notifications: e-mail, SMS, WeCom, browser, webhook), in
their language, through the outbox. This module composes the messages and names the
recipients; `notifications.messages.notify` turns them into deliveries.

Every public change of an incident (opening, publishing, each update, resolution) marks it for
notice (`mark`). Each notice says the incident's *current* state (cause, expected recovery,
latest update). The first notice of a published incident and its resolution are due at once:
a task is enqueued when the publishing (or resolving) transaction commits, so people hear of
an outage within seconds, not after a quiet moment. The updates in between are coalesced: the
notify tick (every 30 s) sends them once the incident has been quiet for
STATUS_NOTIFY_QUIET_SECONDS and at most once per STATUS_NOTIFY_MIN_INTERVAL_SECONDS. So a storm
of updates becomes one message, and nobody is spammed. The tick is also the fallback of the
immediate task: a notice due at once whose task could not be published (broker down) goes out
with the next tick.

Subscribers confirm their address by a link first (`subscribe`, `confirm`); every message
carries an unsubscribe link. They are also reminded of maintenance windows shortly before the
start (`maintenance_remind`, run with the maintenance tick).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, prefetch_related_objects
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.services import audit_record
from core import crypto
from core.errors import ApplicationError
from core.models import lock_or_insert
from core.queue import enqueue_on_commit
from notifications.messages import (
    Message,
    Recipient,
    hand_over,
    notify,
    prefetch_channels,
)
from status.models import (
    Component,
    Incident,
    IncidentState,
    Maintenance,
    MaintenanceState,
    Subscriber,
)
from tickets.selectors import requesters_with_active_tickets

LANGUAGES = {"en", "zh-hans"}


def _seconds(name: str, default: int) -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, name, default))


def mark(incident: Incident) -> None:
    """Note a public change of a published incident, in the caller's transaction.

    Before the first notice went out, and on resolution, the notice is due at once and its
    task is enqueued after commit: an outage is told within seconds, and its end even inside
    the interval of a coalesced update. Any other change waits for the quiet moment.
    """
    now = timezone.now()
    rows = Incident.objects.filter(pk=incident.pk)
    rows.update(public_version=F("public_version") + 1)
    at_once = (
        incident.state == IncidentState.RESOLVED
        or rows.filter(last_notified_at__isnull=True).exists()
    )
    if at_once:
        rows.update(notify_after=now)  # also overrides a coalesced update's later due time
        enqueue_on_commit("status.notify_incident", incident.pk)
    else:
        due = now + _seconds("STATUS_NOTIFY_QUIET_SECONDS", 60)
        rows.filter(notify_after__isnull=True).update(notify_after=due)


# --------------------------------------------------------------------------- subscriptions


def _link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


@transaction.atomic
def subscribe(*, email: Any, components: list[Component] | None = None, language: str = "en"):
    """Ask for notices: a confirmation link goes to the address (at most one an hour).

    The answer never says whether the address was subscribed already.
    """
    address = email.strip() if isinstance(email, str) else ""
    if "@" not in address or len(address) > 254 or " " in address:
        raise ApplicationError(
            _("Enter a valid e-mail address."),
            fields={"email": [_("Enter a valid e-mail address.")]},
        )
    language = language if language in LANGUAGES else "en"
    bidx = crypto.blind_index("email", address)
    subscriber = lock_or_insert(
        Subscriber, {"email_bidx": bidx}, Subscriber(email=address, language=language)
    )
    if subscriber.confirmed_at is None:
        subscriber.language = language
        subscriber.save(update_fields=["language"])
        subscriber.components.set(components or [])
        hour = timezone.now().strftime("%Y%m%d%H")
        notify(
            to=_recipient(subscriber),
            message=Message(
                template="status_confirm",
                key=f"status:confirm:{bidx[:24]}:{hour}",
                context={"confirm": _link(reverse("status:confirm", args=[subscriber.token]))},
            ),
        )
    return subscriber


@transaction.atomic
def confirm(*, token: str) -> Subscriber:
    subscriber = Subscriber.objects.select_for_update().filter(token=token).first()
    if subscriber is None:
        raise ApplicationError(_("This link is not valid (any more)."), code="bad_token")
    if subscriber.confirmed_at is None:
        subscriber.confirmed_at = timezone.now()
        subscriber.save(update_fields=["confirmed_at"])
        audit_record(action="status.subscribed", actor="anonymous", target=subscriber)
    return subscriber


@transaction.atomic
def unsubscribe(*, token: str) -> None:
    subscriber = Subscriber.objects.filter(token=token).first()
    if subscriber is None:
        raise ApplicationError(_("This link is not valid (any more)."), code="bad_token")
    audit_record(action="status.unsubscribed", actor="anonymous", target=subscriber)
    subscriber.delete()


# --------------------------------------------------------------------------------- notices


def notify_tick(*, now: dt.datetime | None = None) -> int:
    """Send the notices that are due; return how many messages went to the outbox."""
    now = now or timezone.now()
    sent = 0
    due = Incident.objects.filter(
        published_at__isnull=False, notify_after__lte=now, public_version__gt=F("notified_version")
    ).values_list("pk", flat=True)
    for pk in list(due[:50]):
        sent += _notify_one(pk, now)
    return sent


def notify_incident(pk: int) -> int:
    """Send one incident's due notice now (the first notice, a resolution); return how many
    messages went to the outbox. Safe to run twice: a version is told once."""
    return _notify_one(pk, timezone.now())


@transaction.atomic
def _notify_one(pk: int, now: dt.datetime) -> int:
    incident = (
        Incident.objects.select_for_update(skip_locked=True)
        .select_related("severity")
        .filter(pk=pk, notify_after__lte=now, public_version__gt=F("notified_version"))
        .first()
    )
    if incident is None:
        return 0
    interval = _seconds("STATUS_NOTIFY_MIN_INTERVAL_SECONDS", 600)
    resolved = incident.state == IncidentState.RESOLVED
    if not resolved and incident.last_notified_at and now < incident.last_notified_at + interval:
        incident.notify_after = incident.last_notified_at + interval  # coalesced: later
        incident.save(update_fields=["notify_after"])
        return 0
    # Every message names the affected components: read them once, not once per recipient.
    prefetch_related_objects([incident], "components")
    components = list(incident.components.all())
    ids = _enqueue_all(incident, components)
    incident.notified_version = incident.public_version
    incident.notify_after = None
    incident.last_notified_at = now
    incident.save(update_fields=["notified_version", "notify_after", "last_notified_at"])
    audit_record(
        action="status.incident_notified",
        actor="system:status",
        target=incident,
        data={"messages": len(ids), "version": incident.public_version},
    )
    hand_over(ids)  # after commit, in batches
    return len(ids)


def _recipient(subscriber: Subscriber) -> Recipient:
    """A status-page subscriber has no account: an e-mail address and a language."""
    return Recipient(language=subscriber.language, email=subscriber.email)


def _enqueue_all(incident: Incident, components: list[Component]) -> list[int]:
    """Tell the customers with active tickets in the affected regions (by their channels) and
    the subscribers of the affected components (by e-mail); a customer who subscribed too
    gets one e-mail."""
    version = incident.public_version
    latest = incident.updates.order_by("-at", "-pk").first()
    nationwide = any(c.region_id is None for c in components)
    region_ids = None if nationwide else sorted({c.region_id for c in components})
    ids: list[int] = []
    told: set[str] = set()  # e-mail blind indexes already told (a customer who subscribed too)
    customers = list(requesters_with_active_tickets(region_ids=region_ids))
    prefetch_channels(customers)
    webhook = _webhook(incident, latest, version)
    for customer in customers:
        ids += notify(
            to=customer,
            message=_message(incident, latest, version, f"user:{customer.pk}", webhook=webhook),
            hand_over=False,
        )
        if customer.notify_email:
            told.add(customer.email_bidx)
    subscribers = (
        Subscriber.objects.filter(confirmed_at__isnull=False)
        .filter(Q(components__isnull=True) | Q(components__in=components))
        .distinct()
        .order_by("pk")
    )
    for subscriber in subscribers:
        if subscriber.email_bidx in told:
            continue
        told.add(subscriber.email_bidx)
        ids += notify(
            to=_recipient(subscriber),
            message=_message(
                incident, latest, version, f"subscriber:{subscriber.email_bidx}", subscriber
            ),
            hand_over=False,
        )
    return ids


def _message(
    incident: Incident,
    latest: Any,
    version: int,
    who: str,
    subscriber: Subscriber | None = None,
    webhook: dict | None = None,
) -> Message:
    """The incident's current state; a subscriber's e-mail carries their unsubscribe link."""

    def context(language: str) -> dict:
        found = _context(incident, latest, language)
        if subscriber is not None:
            found["unsubscribe"] = _link(reverse("status:unsubscribe", args=[subscriber.token]))
        found["short"] = _short_text(found)
        found["push_title"] = f"{found['title']} ({found['state']})"
        return found

    return Message(
        template="status_incident",
        key=_key(incident, version, who),
        context=context,
        about=incident,
        url=reverse("status:incident", args=[incident.pk]),
        tag=f"incident-{incident.pk}",
        webhook=webhook,
        wecom_full=True,  # WeCom shows the whole notice: cause, recovery, latest update
    )


def _context(incident: Incident, latest: Any, language: str) -> dict:
    with translation.override(language):
        eta = (
            timezone.localtime(incident.expected_recovery).strftime("%Y-%m-%d %H:%M %Z")
            if incident.expected_recovery
            else ""
        )
        return {
            "title": incident.title,
            "state": incident.get_state_display(),
            "severity": incident.severity.name,
            "cause": incident.cause,
            "eta": eta,
            "resolved": incident.state == IncidentState.RESOLVED,
            "latest": latest.body if latest is not None else "",
            "affected": ", ".join(c.name for c in incident.components.all()),
            "link": _link(reverse("status:incident", args=[incident.pk])),
            "portal_link": _link(reverse("portal:chat")),
        }


def _key(incident: Incident, version: int, who: str) -> str:
    digest = hashlib.sha256(who.encode()).hexdigest()[:24]
    return f"status:{incident.pk}:v{version}:{digest}"


def _webhook(incident: Incident, latest: Any, version: int) -> dict:
    """The incident as JSON, both languages, for a customer's own system (signed on send)."""
    return {
        "type": "incident",
        "id": incident.pk,
        "version": version,
        "severity": incident.severity.key,
        "state": incident.state,
        "title": {"en": incident.title_en, "zh": incident.title_zh},
        "cause": {"en": incident.cause_en, "zh": incident.cause_zh},
        "expected_recovery": (
            incident.expected_recovery.isoformat() if incident.expected_recovery else None
        ),
        "components": [c.key for c in incident.components.all()],
        "latest_update": (
            {"en": latest.body_en, "zh": latest.body_zh, "at": latest.at.isoformat()}
            if latest is not None
            else None
        ),
        "url": _link(reverse("status:incident", args=[incident.pk])),
    }


def _short_text(context: dict) -> str:
    """The SMS (and browser notification) text, in the active language."""
    body = _("WeldDesk: %(title)s (%(state)s). Chat and portal work: %(link)s") % {
        "title": context["title"],
        "state": context["state"],
        "link": context["portal_link"],
    }
    if context["eta"] and not context["resolved"]:
        body += " " + _("Expected recovery: %(when)s.") % {"when": context["eta"]}
    return body


def maintenance_remind(*, now: dt.datetime | None = None) -> int:
    """Remind subscribers of the windows starting within STATUS_MAINTENANCE_REMINDER_MINUTES
    (once per window); return how many messages went to the outbox."""
    now = now or timezone.now()
    soon = now + dt.timedelta(minutes=getattr(settings, "STATUS_MAINTENANCE_REMINDER_MINUTES", 60))
    sent = 0
    for pk in list(
        Maintenance.objects.filter(
            state=MaintenanceState.SCHEDULED,
            reminded_at__isnull=True,
            starts_at__lte=soon,
            starts_at__gt=now,
        ).values_list("pk", flat=True)[:50]
    ):
        sent += _remind_one(pk, now)
    return sent


@transaction.atomic
def _remind_one(pk: int, now: dt.datetime) -> int:
    window = (
        Maintenance.objects.select_for_update(skip_locked=True)
        .filter(pk=pk, reminded_at__isnull=True)
        .first()
    )
    if window is None:
        return 0
    components = list(window.components.all())
    subscribers = (
        Subscriber.objects.filter(confirmed_at__isnull=False)
        .filter(Q(components__isnull=True) | Q(components__in=components))
        .distinct()
        .order_by("pk")
    )
    ids: list[int] = []
    for subscriber in subscribers:
        language = subscriber.language
        with translation.override(language):
            context = {
                "title": window.title,
                "details": window.body,
                "starts": timezone.localtime(window.starts_at).strftime("%Y-%m-%d %H:%M %Z"),
                "ends": timezone.localtime(window.ends_at).strftime("%Y-%m-%d %H:%M %Z"),
                "affected": ", ".join(c.name for c in components),
                "link": _link(reverse("status:page")),
                "unsubscribe": _link(reverse("status:unsubscribe", args=[subscriber.token])),
            }
        ids += notify(
            to=_recipient(subscriber),
            message=Message(
                template="status_maintenance",
                key=f"status:maintenance:{window.pk}:{subscriber.email_bidx[:24]}",
                context=context,
                about=window,
                url=reverse("status:page"),
            ),
            hand_over=False,
        )
    window.reminded_at = now
    window.save(update_fields=["reminded_at"])
    hand_over(ids)
    return len(ids)


@transaction.atomic
def subscriber_erase_person(*, email_bidx: str, actor: Any) -> int:
    """Erasure: the person's status-page subscription, if any."""
    if not email_bidx:
        return 0
    deleted, _ = Subscriber.objects.filter(email_bidx=email_bidx).delete()
    if deleted:
        audit_record(action="status.subscriber_erased", actor=actor, data={"deleted": deleted})
    return deleted
