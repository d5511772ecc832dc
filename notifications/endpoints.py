"""Organisations' webhook endpoints: registered with a secret shown once, fed their events.

An organisation (a partner's system) registers URLs of its own system and the events each
wants (`EventType`). Another app tells notifications what happened to one of the
organisation's objects (`notifications.messages.notify_organisation`: one outbox row per
write, whatever the number of endpoints); when the outbox delivers that row, `deliveries_for`
decides which endpoints get which event and the outbox writes one delivery row each
(`services._fan_out`), delivered like every signed webhook: `send`, retried with backoff,
each attempt logged (`WebhookAttempt`), replayable by a supervisor.

Each endpoint has its own random signing secret (`whsec_...`), encrypted at rest and shown
once, when registered or rotated; the signature is the same as a customer's webhook
(notifications/webhooks.py). docs/webhooks.md is the partners' side of it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import ApplicationError
from core.net import public_http_url
from notifications import webhooks
from notifications.models import Channel, EventType, Outbox, WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"  # noqa: S105 - a public marker, not a secret
MAX_URL = 500
# An organisation's endpoints: enough for a test and a production system per event, and a
# bound on the fan-out of one event.
MAX_ENDPOINTS = 10


def url_problem(url: Any) -> str:
    """Why the desk may not deliver to this URL, or "" when it may (core.net's checks:
    https, no credentials, every address public, unless the settings allow otherwise)."""
    if not isinstance(url, str) or not url.strip():
        return _("enter the URL of the system")
    if len(url.strip()) > MAX_URL:
        return _("use at most %(n)s characters") % {"n": MAX_URL}
    return public_http_url(url.strip())


def _clean_url(url: Any) -> str:
    problem = url_problem(url)
    if problem:
        raise ApplicationError(
            _("The desk cannot deliver to this URL: %(why)s.") % {"why": problem},
            fields={"url": [problem]},
        )
    return url.strip()


def _clean_events(events: Any) -> list[str]:
    chosen = sorted(set(events or ()))
    if not chosen or any(e not in EventType.values for e in chosen):
        raise ApplicationError(
            _("Choose the events this endpoint receives."),
            fields={"events": [_("Choose one or more of: %(e)s.") % {"e": ", ".join(EventType)}]},
        )
    return chosen


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def endpoint_register(
    *,
    actor: Any,
    organisation: Any,
    url: Any,
    events: Iterable[str],
    description: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint of the organisation's system; return it and its signing secret,
    which is not shown again (rotate it to get a new one)."""
    if not organisation.is_active:
        raise ApplicationError(_("This organisation's account is inactive."))
    url = _clean_url(url)
    chosen = _clean_events(events)
    if WebhookEndpoint.objects.filter(organisation=organisation).count() >= MAX_ENDPOINTS:
        raise ApplicationError(
            _("An organisation has at most %(n)s webhook endpoints.") % {"n": MAX_ENDPOINTS}
        )
    secret = _new_secret()
    endpoint = WebhookEndpoint.objects.create(
        organisation=organisation,
        url=url,
        description=(description or "").strip()[:100],
        events=chosen,
        secret=secret,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        action="webhook_endpoint.registered",
        actor=actor,
        target=endpoint,
        data={"organisation": organisation.pk, "events": chosen},
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: Any,
    url: Any = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description or whether it is active (a disabled
    endpoint gets nothing, and its pending deliveries fail at their next attempt)."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    changed: dict[str, Any] = {}
    if url is not None and url.strip() != locked.url:
        locked.url = _clean_url(url)
        changed["url"] = True  # the address of their system: named, not copied
    if events is not None:
        chosen = _clean_events(events)
        if chosen != locked.events:
            locked.events = changed["events"] = chosen
    if description is not None and description.strip()[:100] != locked.description:
        locked.description = description.strip()[:100]
        changed["description"] = True
    if is_active is not None and bool(is_active) != locked.is_active:
        locked.is_active = changed["is_active"] = bool(is_active)
    if changed:
        locked.save(update_fields=list(changed))
        audit_record(
            action="webhook_endpoint.changed",
            actor=actor,
            target=locked,
            data={"organisation": locked.organisation_id, "changed": sorted(changed)}
            | ({"events": locked.events} if "events" in changed else {})
            | ({"active": locked.is_active} if "is_active" in changed else {}),
        )
    return locked


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: Any) -> str:
    """Give the endpoint a new signing secret and return it (shown once). Deliveries from now
    on, retries of earlier ones included, are signed with it."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = _new_secret()
    locked.secret = secret
    locked.secret_rotated_at = timezone.now()
    locked.save(update_fields=["secret", "secret_rotated_at"])
    audit_record(
        action="webhook_endpoint.secret_rotated",
        actor=actor,
        target=locked,
        data={"organisation": locked.organisation_id},
    )
    endpoint.secret, endpoint.secret_rotated_at = secret, locked.secret_rotated_at
    return secret


# ------------------------------------------------------------------- delivery


def event_id(key: str, event_type: str) -> str:
    """The event's id, the same for every endpoint, retry and replay (partners deduplicate
    on it)."""
    return "evt_" + hashlib.sha256(f"{key}:{event_type}".encode()).hexdigest()[:32]


def delivery_id(event: str, endpoint_pk: int) -> str:
    """One event to one endpoint: the delivery's outbox key and its Idempotency-Key."""
    return "dlv_" + hashlib.sha256(f"{event}:{endpoint_pk}".encode()).hexdigest()[:32]


def deliveries_for(row: Outbox) -> list[tuple[dict[str, Any], WebhookDelivery]]:
    """The deliveries of an organisation's event row: one per event and active endpoint
    subscribed to it, as (outbox fields, unsaved WebhookDelivery without its outbox row).

    The endpoints are read when the row is delivered (the write did not pay for it), as
    registered and active then; one registered after the event was written gets nothing of it
    (a broker outage must not hand a new endpoint the backlog of before its time).
    """
    notice = json.loads(row.body)
    endpoints = list(
        WebhookEndpoint.objects.filter(
            organisation_id=notice["organisation"], is_active=True, created_at__lte=row.created_at
        )
        .only("pk", "events", "is_active")
        .order_by("pk")
    )
    found = []
    for event in notice["events"]:
        for endpoint in endpoints:
            if not endpoint.wants(event["type"]):
                continue
            key = delivery_id(event["id"], endpoint.pk)
            payload = {
                "id": event["id"],
                "type": event["type"],
                "occurred_at": event["occurred_at"],
                "delivery": key,
                **event["data"],
            }
            fields = {
                "key": key,
                "channel": Channel.ORG_WEBHOOK,
                "recipient": str(endpoint.pk),
                "body": json.dumps(payload, ensure_ascii=False),
                "language": row.language,
                "about_ref": (row.about_type, row.about_id),
            }
            link = WebhookDelivery(
                endpoint_id=endpoint.pk, event_type=event["type"], event_id=event["id"]
            )
            found.append((fields, link))
    return found


def send(row: Outbox) -> int:
    """Deliver one row to its endpoint, signed with the endpoint's secret of the moment;
    return the receiver's status (raises webhooks.WebhookError)."""
    endpoint = WebhookEndpoint.objects.filter(pk=int(row.recipient)).first()
    if endpoint is None or not endpoint.is_active:
        raise webhooks.EndpointUnavailable(_("the endpoint was disabled or removed"))
    event = json.loads(row.body).get("type", "")
    return webhooks.deliver(
        url=endpoint.url, body=row.body, key=row.key, secret=endpoint.secret, event=event
    )
