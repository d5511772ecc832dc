"""Every write of logistics: create a shipment, take in tracking, poll carriers, warn.

Tracking arrives two ways, both through `tracking_apply`: the beat polls every shipment not
yet delivered (with backoff while its carrier fails), and carriers push updates to a signed
webhook. An event told twice is kept once. The shipment's status follows its latest event;
delivery resumes the tickets that were waiting for it, a delivery problem or a late shipment
tells the customer and flags the tickets for their agents.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from audit.services import audit_record
from core import jsoninput
from core.errors import ApplicationError
from core.queue import enqueue_on_commit
from logistics import carriers
from logistics.models import (
    FINAL_STATUSES,
    Direction,
    Shipment,
    ShipmentKind,
    ShipmentTicket,
    TrackingEvent,
    TrackingStatus,
)
from notifications.messages import Message, hand_over, notify, prefetch_channels
from tickets.models import ACTIVE_STATUSES, Status
from tickets.services import tickets as ticket_services

SYSTEM = "system:logistics"
TRACKING_RE = re.compile(r"^[A-Za-z0-9-]{4,40}$")
MAX_ITEMS = 50
# An item's description and its Chinese name, each.
MAX_ITEM_NAME = 200
# The first retry after a carrier failure; it doubles up to TRACKING_BACKOFF_MAX_MINUTES.
BACKOFF_FIRST_MINUTES = 5


def _clean_items(items: Any) -> list[dict[str, Any]]:
    """Each item: a description (the agent's words, shown to English readers), a quantity, and
    optionally `name_zh`, its Chinese name for Chinese readers (kept only when given)."""
    if not isinstance(items, list | tuple) or not items:
        raise ApplicationError(
            _("List what is shipped."), fields={"items": [_("Add at least one item.")]}
        )
    if len(items) > MAX_ITEMS:
        raise ApplicationError(
            _("A shipment lists at most %(n)s items.") % {"n": MAX_ITEMS},
            fields={"items": [_("Too many items.")]},
        )
    clean = []
    for item in items:
        if not isinstance(item, dict):
            item = {}
        name = str(item.get("description", "")).strip()
        name_zh = item.get("name_zh") or ""
        try:
            quantity = int(item.get("quantity", 1))
        except (TypeError, ValueError):
            quantity = 0
        if not name or len(name) > 200 or not 1 <= quantity <= 9999:
            raise ApplicationError(
                _("Each item needs a description (up to 200 characters) and a quantity 1–9999."),
                fields={"items": [_("Check the items.")]},
            )
        if not isinstance(name_zh, str) or len(name_zh.strip()) > MAX_ITEM_NAME:
            raise ApplicationError(
                _("An item's Chinese name has at most %(n)s characters.") % {"n": MAX_ITEM_NAME},
                fields={"items": [_("Check the items.")]},
            )
        found = {"description": name, "quantity": quantity}
        if name_zh.strip():
            found["name_zh"] = name_zh.strip()
        clean.append(found)
    return clean


@transaction.atomic
def shipment_create(
    *,
    actor: Any,
    organisation: Any,
    kind: str,
    carrier: str,
    tracking_number: str,
    delivery_address: str,
    items: Any,
    direction: str = Direction.OUTBOUND,
    courier: str = "",
    recipient_phone: str = "",
    expected_on: dt.date | None = None,
    tickets: Sequence[Any] = (),
    units: Sequence[Any] = (),
    tickets_wait: bool = False,
    sent_at: dt.datetime | None = None,
) -> Shipment:
    """Record a shipment and start tracking it; with `tickets_wait` its tickets go on hold
    ("awaiting parts": their SLA pauses) until it is delivered. `sent_at` records one that
    left earlier (default: now)."""
    errors: dict[str, list[str]] = {}
    number = (tracking_number or "").strip().upper()
    if kind not in ShipmentKind.values:
        errors["kind"] = [_("Choose a valid kind.")]
    if direction not in Direction.values:
        errors["direction"] = [_("Choose a valid direction.")]
    if carrier not in dict(carriers.carrier_choices()):
        errors["carrier"] = [_("Choose a carrier that is configured.")]
    if carrier == carriers.Kuaidi100Carrier.code and not re.fullmatch(r"[a-z0-9]{2,32}", courier):
        errors["courier"] = [_("Give the courier's Kuaidi100 code, e.g. shunfeng.")]
    if not TRACKING_RE.match(number):
        errors["tracking_number"] = [_("4 to 40 letters, digits or dashes.")]
    if not (delivery_address or "").strip() or len(delivery_address) > 500:
        errors["delivery_address"] = [_("Give the delivery address (up to 500 characters).")]
    if any(t.organisation_id != organisation.pk for t in tickets):
        errors["tickets"] = [_("Only the customer's own tickets.")]
    if any(u.organisation_id != organisation.pk for u in units):
        errors["units"] = [_("Only the customer's own machines.")]
    if errors:
        raise ApplicationError(_("Please correct the shipment."), fields=errors)
    clean_items = _clean_items(items)
    if Shipment.objects.filter(carrier=carrier, tracking_number=number).exists():
        raise ApplicationError(
            _("This tracking number is already recorded."),
            fields={"tracking_number": [_("Already recorded.")]},
        )
    now = timezone.now()
    shipment = Shipment.objects.create(
        organisation=organisation,
        direction=direction,
        kind=kind,
        carrier=carrier,
        courier=courier,
        tracking_number=number,
        delivery_address=delivery_address.strip(),
        recipient_phone=(recipient_phone or "").strip(),
        items=clean_items,
        expected_on=expected_on,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=min(sent_at or now, now),
        next_check_at=now,
    )
    shipment.units.set(units)
    for ticket in tickets:
        waits = tickets_wait and ticket.status in ACTIVE_STATUSES
        ShipmentTicket.objects.create(shipment=shipment, ticket=ticket, awaiting=waits)
        if waits and ticket.status != Status.ON_HOLD:
            ticket_services.ticket_transition(
                ticket=ticket,
                status=Status.ON_HOLD,
                actor=actor,
                reason=f"Awaiting parts: {shipment.tracking_number}",
            )
    audit_record(
        action="shipment.created",
        actor=actor,
        target=shipment,
        data={
            "kind": kind,
            "direction": direction,
            "carrier": carrier,
            "tracking_number": number,
            "organisation": organisation.pk,
            "tickets": [t.pk for t in tickets],
            "waiting": tickets_wait,
        },
    )
    enqueue_on_commit("logistics.track_one", shipment.pk)
    return shipment


def tracking_apply(
    *, shipment: Shipment, events: Iterable[carriers.Event], source: str, now: dt.datetime
) -> int:
    """Keep the new events of a shipment and move its status; return how many were new."""
    with transaction.atomic():
        locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
        known = set(locked.events.values_list("at", "text"))
        new = [
            TrackingEvent(
                shipment=locked,
                at=e.at,
                status=e.status,
                text=e.text[:300],
                place=e.place[:120],
                source=source,
                received_at=now,
            )
            for e in events
            if (e.at, e.text[:300]) not in known
        ]
        TrackingEvent.objects.bulk_create(new, ignore_conflicts=True)
        latest = locked.events.order_by("-at", "-pk").first()
        before = locked.status
        if latest is not None and (latest.status, latest.at) != (locked.status, locked.status_at):
            locked.status, locked.status_at = latest.status, latest.at
            locked.status_text, locked.place = latest.text, latest.place
            if latest.status == TrackingStatus.DELIVERED and locked.delivered_at is None:
                locked.delivered_at = latest.at
            locked.save(
                update_fields=["status", "status_at", "status_text", "place", "delivered_at"]
            )
        if locked.status != before:
            audit_record(
                action="shipment.status_changed",
                actor=SYSTEM,
                target=locked,
                data={"from": before, "to": locked.status, "source": source},
            )
            if locked.status == TrackingStatus.DELIVERED:
                _resume_tickets(locked)
            elif locked.status == TrackingStatus.EXCEPTION and not locked.exception_notified_at:
                _warn(locked, reason="exception", now=now)
    shipment.refresh_from_db()
    return len(new)


def _resume_tickets(shipment: Shipment) -> None:
    """Delivered: tickets on hold for it run again, unless they still wait for another."""
    for link in shipment.links.select_related("ticket").filter(awaiting=True):
        link.awaiting = False
        link.save(update_fields=["awaiting"])
        still = (
            ShipmentTicket.objects.filter(ticket=link.ticket, awaiting=True)
            .exclude(shipment__status__in=FINAL_STATUSES)
            .exists()
        )
        if not still and link.ticket.status == Status.ON_HOLD:
            ticket_services.ticket_transition(
                ticket=link.ticket,
                status=Status.OPEN,
                actor=SYSTEM,
                reason=f"Parts delivered: {shipment.tracking_number}",
            )


def _warn(shipment: Shipment, *, reason: str, now: dt.datetime) -> None:
    """Tell the customer (their people, in their language) and flag the tickets."""
    field = "exception_notified_at" if reason == "exception" else "late_notified_at"
    setattr(shipment, field, now)
    shipment.save(update_fields=[field])
    link = settings.SITE_URL.rstrip("/") + reverse("portal:shipment", args=[shipment.pk])
    people = account_selectors.customers_of([shipment.organisation_id]).get(
        shipment.organisation_id, []
    )
    prefetch_channels(people)

    def context(language: str) -> dict:
        found = {
            "shipment": shipment,
            "kind": shipment.get_kind_display(),
            "status": shipment.get_status_display(),
            "late": reason == "late",
            "link": link,
        }
        found["short"] = (
            _("WeldDesk: your %(kind)s %(number)s is late. %(link)s")
            if reason == "late"
            else _("WeldDesk: a problem with the delivery of %(kind)s %(number)s. %(link)s")
        ) % {"kind": found["kind"], "number": shipment.tracking_number, "link": link}
        return found

    ids: list[int] = []
    for user in people:
        message = Message(
            template="shipment_problem",
            key=f"shipment-{reason}:{shipment.pk}:{user.pk}",
            context=context,
            about=shipment,
            url=link,
            tag=f"shipment-{shipment.pk}",
        )
        ids += notify(to=user, message=message, hand_over=False)
    hand_over(ids)
    note = (
        f"Shipment {shipment.tracking_number} is late (expected {shipment.expected_on})."
        if reason == "late"
        else f"Shipment {shipment.tracking_number}: {shipment.status_text}"
    )
    for ticket in shipment.tickets.filter(status__in=ACTIVE_STATUSES):
        ticket_services.ticket_flag(
            ticket=ticket, actor=SYSTEM, tag=f"shipment-{reason}", note=note
        )
    audit_record(action=f"shipment.{reason}_warned", actor=SYSTEM, target=shipment)


def _backoff(failures: int) -> dt.timedelta:
    minutes = min(
        settings.TRACKING_BACKOFF_MAX_MINUTES, BACKOFF_FIRST_MINUTES * 2 ** (failures - 1)
    )
    return dt.timedelta(minutes=minutes)


def track_one(*, shipment: Shipment, now: dt.datetime | None = None) -> bool:
    """Ask the shipment's carrier now; on failure keep what is known and back off."""
    now = now or timezone.now()
    try:
        events = carriers.carrier_for(shipment.carrier).track(shipment)
    except carriers.CarrierError as exc:
        failures = shipment.check_failures + 1
        Shipment.objects.filter(pk=shipment.pk).update(
            check_failures=failures,
            next_check_at=now + _backoff(failures),
            last_error=str(exc)[:200],
        )
        return False
    tracking_apply(shipment=shipment, events=events, source="poll", now=now)
    Shipment.objects.filter(pk=shipment.pk).update(
        checked_at=now,
        check_failures=0,
        last_error="",
        next_check_at=None
        if shipment.status in FINAL_STATUSES
        else now + dt.timedelta(minutes=settings.TRACKING_POLL_MINUTES),
    )
    return True


def tracking_poll(*, now: dt.datetime | None = None, limit: int = 200) -> dict[str, int]:
    """The beat's round: ask the carriers about the shipments due, then warn of late ones."""
    now = now or timezone.now()
    due = list(
        Shipment.objects.filter(next_check_at__lte=now)
        .exclude(status__in=FINAL_STATUSES)
        .order_by("next_check_at", "pk")[:limit]
    )
    ok = sum(track_one(shipment=s, now=now) for s in due)
    return {"checked": ok, "failed": len(due) - ok, "late": late_warn(now=now)}


def late_warn(*, now: dt.datetime | None = None) -> int:
    """Warn once about every shipment past its expected day and not delivered."""
    now = now or timezone.now()
    late = Shipment.objects.filter(
        expected_on__lt=timezone.localdate(now), late_notified_at__isnull=True
    ).exclude(status__in=FINAL_STATUSES)
    count = 0
    for shipment in late.order_by("pk")[:500]:
        with transaction.atomic():
            locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
            if locked.late_notified_at is None:
                _warn(locked, reason="late", now=now)
                count += 1
    return count


class PushRefused(Exception):
    """A push the desk does not accept (bad signature, unreadable, unknown shipment)."""


def kuaidi100_push(*, param: str, sign: str, now: dt.datetime | None = None) -> Shipment:
    """Take a Kuaidi100 push: check its signature (MD5 of param + salt), apply its events."""
    salt = settings.KUAIDI100_SALT
    if not salt:
        raise PushRefused("push not configured")
    if not param or carriers.kuaidi100_sign(param, salt) != (sign or "").upper():
        raise PushRefused("bad signature")
    try:
        body = jsoninput.loads(param)  # deep or NUL-laden JSON is refused, not a 500
        result = body["lastResult"]
        number = str(result["nu"]).strip().upper()
        events = carriers.kuaidi100_events(result)
    except (ValueError, KeyError, TypeError, carriers.CarrierError) as exc:
        raise PushRefused("unreadable push") from exc
    shipment = Shipment.objects.filter(
        carrier=carriers.Kuaidi100Carrier.code, tracking_number=number
    ).first()
    if shipment is None:
        raise PushRefused("unknown shipment")
    now = now or timezone.now()
    tracking_apply(shipment=shipment, events=events, source="push", now=now)
    Shipment.objects.filter(pk=shipment.pk).update(checked_at=now, check_failures=0)
    return shipment


@transaction.atomic
def shipments_erase_person(*, user: Any, marks: Any, actor: Any) -> int:
    """Erasure: the person's phone on shipments of their tickets, and their name or contacts
    in the delivery address (the organisation's address itself stays)."""
    changed = 0
    for shipment in Shipment.objects.filter(tickets__requester=user).distinct():
        fields = []
        if shipment.recipient_phone and marks.found_in(shipment.recipient_phone):
            shipment.recipient_phone = ""
            fields.append("recipient_phone")
        if marks.found_in(shipment.delivery_address):
            shipment.delivery_address = marks.scrub(shipment.delivery_address)
            fields.append("delivery_address")
        if fields:
            shipment.save(update_fields=fields)
            changed += 1
    if changed:
        audit_record(action="logistics.person_erased", actor=actor, data={"shipments": changed})
    return changed


def shipments_expire(*, delivered_before: Any, dry_run: bool) -> dict[str, int]:
    """Retention: long-delivered shipments keep their items and timeline, not the address."""
    old = Shipment.objects.filter(delivered_at__lt=delivered_before, address_erased=False)
    count = old.count()
    if not dry_run and count:
        old.update(delivery_address="", recipient_phone="", address_erased=True)
    return {"shipments": count}
