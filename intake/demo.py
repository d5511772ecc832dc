"""Demo alarm rules, a silence watch, and a machine that reported a fault of its own."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

ACTOR = "system:demo"


def seed() -> int:
    from accounts.selectors import user_by_email
    from intake.alarms import services
    from intake.models import AlarmRule, SilenceRule

    if AlarmRule.objects.exists():
        return 0
    AlarmRule.objects.create(code="", min_severity="major", priority=2, merge_minutes=240)
    AlarmRule.objects.create(
        code="E-301",
        min_severity="info",
        opens_ticket=False,
        note="Lens temperature notice: the operator's display shows it.",
    )
    SilenceRule.objects.create(contract_tier="premium", silent_after_minutes=30)
    customer = user_by_email("wang.jianguo@hengrui-weld.example")
    unit = customer.organisation.units.order_by("pk").last() if customer else None
    if unit is None:
        return 3
    now = timezone.now().replace(microsecond=0)
    alarms = [
        ("DEMO-0001", "E-201", "major", 50, "Chiller flow low", 38.5),
        ("DEMO-0002", "E-201", "major", 35, "Chiller flow low", 40.1),
        ("DEMO-0003", "E-201", "critical", 20, "Chiller flow lost: laser stopped", 44.2),
    ]
    services.alarms_receive(
        unit=unit,
        actor=ACTOR,
        now=now,
        payload={
            "alarms": [
                {
                    "alarm_id": alarm_id,
                    "code": code,
                    "severity": severity,
                    "occurred_at": (now - dt.timedelta(minutes=minutes)).isoformat(),
                    "message": message,
                    "temperature_c": temperature,
                }
                for alarm_id, code, severity, minutes, message, temperature in alarms
            ]
        },
    )
    return 3 + len(alarms)
