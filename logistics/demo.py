"""Demo shipments with the sandbox carrier: a spare part on its way for a demo ticket, a
machine delivered, and a repair return with a delivery problem."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def seed() -> int:
    from accounts.selectors import user_by_email
    from logistics import services
    from logistics.models import Shipment

    if Shipment.objects.exists():
        return 0
    customer = user_by_email("wang.jianguo@hengrui-weld.example")
    agent = user_by_email("li.na@welddesk.example")
    if customer is None or agent is None:
        return 0
    org = customer.organisation
    ticket = org.tickets.order_by("-created_at").first()
    unit = org.units.order_by("pk").first()
    today = timezone.localdate()
    # number, kind, tickets, item, its Chinese name, expected in days, sent hours ago (the
    # sandbox timeline)
    plans = [
        (
            "SBX-100001",
            "spare_part",
            [ticket] if ticket else [],
            "2 x protective lens D30",
            "保护镜片 D30",
            2,
            20,
        ),
        ("SBX-100002", "machine", [], "1 x handheld welder HW-2000", "HW-2000 手持焊接机", -1, 60),
        ("SBX-100003-EXC", "repair_return", [], "1 x wobble head", "摆动焊接头", 1, 40),
    ]
    made = 0
    now = timezone.now()
    for number, kind, tickets, item, name_zh, days, hours in plans:
        quantity, _x, description = item.partition(" x ")
        services.shipment_create(
            actor=agent,
            organisation=org,
            kind=kind,
            carrier="sandbox",
            tracking_number=number,
            delivery_address=org.address or "苏州工业园区",
            items=[{"quantity": int(quantity), "description": description, "name_zh": name_zh}],
            expected_on=today + dt.timedelta(days=days),
            tickets=tickets,
            units=[unit] if unit else [],
            tickets_wait=bool(tickets),
            sent_at=now - dt.timedelta(hours=hours),
        )
        made += 1
    for shipment in Shipment.objects.all():
        services.track_one(shipment=shipment)
    return made
