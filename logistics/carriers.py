"""Carrier adapters behind one interface: ask a carrier for a shipment's tracking events.

- `sandbox`: built in, deterministic: the timeline follows from the shipment's creation time
  and its tracking number (for demos and tests). A number containing EXC ends in a delivery
  problem, RET in a return to sender, DOWN makes the carrier unreachable.
- `kuaidi100`: the Kuaidi100 (快递100) real-time query API and its push callback, configured by
  KUAIDI100_URL, KUAIDI100_CUSTOMER, KUAIDI100_KEY and KUAIDI100_SALT.

Every adapter returns `Event`s with a normalised status, or raises `CarrierError` when the
carrier cannot answer; callers keep the last known status and try again later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from logistics.models import TrackingStatus

CHINA = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    status: str
    text: str
    place: str = ""


class CarrierError(Exception):
    """The carrier could not answer (down, refused, or an answer we cannot read)."""


class Carrier:
    code = ""
    name = ""

    def available(self) -> bool:
        return True

    def track(self, shipment: Any) -> list[Event]:
        raise NotImplementedError


class SandboxCarrier(Carrier):
    code = "sandbox"
    name = "Sandbox Express"

    # (hours after creation, status, text, place)
    ROUTE = [
        (0, TrackingStatus.CREATED, "Shipping label created", "Suzhou warehouse"),
        (3, TrackingStatus.PICKED_UP, "Picked up by the courier", "Suzhou"),
        (10, TrackingStatus.IN_TRANSIT, "Departed the sorting centre", "Suzhou hub"),
        (30, TrackingStatus.IN_TRANSIT, "Arrived at the destination hub", "Destination hub"),
        (40, TrackingStatus.OUT_FOR_DELIVERY, "Out for delivery", "Local depot"),
        (44, TrackingStatus.DELIVERED, "Delivered, signed by the recipient", "Customer site"),
    ]

    NOT_FOUND = "Delivery problem: address not found"

    def track(self, shipment: Any) -> list[Event]:
        number = shipment.tracking_number.upper()
        if "DOWN" in number:
            raise CarrierError("sandbox carrier is down for this number")
        route = list(self.ROUTE)
        if "EXC" in number:
            route[4:] = [(32, TrackingStatus.EXCEPTION, self.NOT_FOUND, "Local depot")]
        elif "RET" in number:
            route[4:] = [
                (32, TrackingStatus.EXCEPTION, "Recipient refused the parcel", "Local depot"),
                (50, TrackingStatus.RETURNED, "Returned to the sender", "Suzhou warehouse"),
            ]
        start = shipment.created_at
        now = dt.datetime.now(dt.UTC)
        return [
            Event(at=start + dt.timedelta(hours=h), status=s, text=t, place=p)
            for h, s, t, p in route
            if start + dt.timedelta(hours=h) <= now
        ]


# Kuaidi100's shipment states ("state") and event words ("status" with resultv2=1).
KUAIDI100_STATES = {
    "0": TrackingStatus.IN_TRANSIT,
    "1": TrackingStatus.PICKED_UP,
    "2": TrackingStatus.EXCEPTION,
    "3": TrackingStatus.DELIVERED,
    "4": TrackingStatus.RETURNED,
    "5": TrackingStatus.OUT_FOR_DELIVERY,
    "6": TrackingStatus.RETURNED,
    "7": TrackingStatus.IN_TRANSIT,
    "8": TrackingStatus.IN_TRANSIT,
    "14": TrackingStatus.EXCEPTION,
}
KUAIDI100_WORDS = {
    "揽收": TrackingStatus.PICKED_UP,
    "在途": TrackingStatus.IN_TRANSIT,
    "派件": TrackingStatus.OUT_FOR_DELIVERY,
    "签收": TrackingStatus.DELIVERED,
    "退签": TrackingStatus.RETURNED,
    "退回": TrackingStatus.RETURNED,
    "疑难": TrackingStatus.EXCEPTION,
    "拒签": TrackingStatus.EXCEPTION,
    "转投": TrackingStatus.IN_TRANSIT,
    "清关": TrackingStatus.IN_TRANSIT,
}


def kuaidi100_sign(*parts: str) -> str:
    """Kuaidi100's signature: the upper-case MD5 of the parts joined (not a secret scheme of
    ours: it is how their API authenticates; the key never travels)."""
    return hashlib.md5("".join(parts).encode(), usedforsecurity=False).hexdigest().upper()


def kuaidi100_events(result: dict[str, Any]) -> list[Event]:
    """Events from a Kuaidi100 query answer or push `lastResult` (newest first there)."""
    if not isinstance(result, dict) or not isinstance(result.get("data"), list):
        raise CarrierError("answer without tracking data")
    state = KUAIDI100_STATES.get(str(result.get("state", "")), TrackingStatus.IN_TRANSIT)
    events = []
    for n, row in enumerate(result["data"]):
        if not isinstance(row, dict):
            raise CarrierError("unreadable tracking row")
        try:
            at = dt.datetime.strptime(
                str(row.get("ftime") or row.get("time")), "%Y-%m-%d %H:%M:%S"
            ).replace(tzinfo=CHINA)
        except ValueError as exc:
            raise CarrierError("unreadable tracking time") from exc
        word = str(row.get("status") or "")
        status = state if n == 0 else KUAIDI100_WORDS.get(word, TrackingStatus.IN_TRANSIT)
        events.append(
            Event(
                at=at,
                status=status,
                text=str(row.get("context") or "")[:300],
                place=str(row.get("areaName") or row.get("location") or "")[:120],
            )
        )
    return sorted(events, key=lambda e: e.at)


class Kuaidi100Carrier(Carrier):
    code = "kuaidi100"
    name = "Kuaidi100"

    def available(self) -> bool:
        return bool(settings.KUAIDI100_CUSTOMER and settings.KUAIDI100_KEY)

    def track(self, shipment: Any) -> list[Event]:
        if not self.available():
            raise CarrierError("Kuaidi100 is not configured")
        query = {"com": shipment.courier, "num": shipment.tracking_number, "resultv2": "1"}
        if shipment.recipient_phone:
            query["phone"] = shipment.recipient_phone
        param = json.dumps(query, ensure_ascii=False, separators=(",", ":"))
        body = urllib.parse.urlencode(
            {
                "customer": settings.KUAIDI100_CUSTOMER,
                "sign": kuaidi100_sign(param, settings.KUAIDI100_KEY, settings.KUAIDI100_CUSTOMER),
                "param": param,
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the configured https URL
            settings.KUAIDI100_URL,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=settings.KUAIDI100_TIMEOUT_SECONDS
            ) as response:
                answer = json.loads(response.read(1_000_000))
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise CarrierError(f"Kuaidi100 unreachable: {type(exc).__name__}") from exc
        if not isinstance(answer, dict):
            raise CarrierError("Kuaidi100 answered something unreadable")
        if str(answer.get("status")) != "200":
            code = str(answer.get("returnCode") or answer.get("status") or "?")
            raise CarrierError(f"Kuaidi100 refused the query ({code})")
        return kuaidi100_events(answer)


CARRIERS: dict[str, Carrier] = {c.code: c for c in (SandboxCarrier(), Kuaidi100Carrier())}


def carrier_for(code: str) -> Carrier:
    try:
        return CARRIERS[code]
    except KeyError as exc:
        raise CarrierError(f"unknown carrier {code!r}") from exc


def carrier_choices() -> list[tuple[str, str]]:
    return [(c.code, c.name) for c in CARRIERS.values() if c.available()]
