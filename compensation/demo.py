"""Demo compensation policies: one for outages, one for late P1/P2 resolutions."""

from __future__ import annotations

from decimal import Decimal

from accounts.models import Tier
from compensation.models import EventKind, Policy, PolicyTier

# (tier, warranty days per hour, warranty days at most, voucher CNY, priority days)
OUTAGE = [
    (Tier.STANDARD, "0.50", 14, "500", 0),
    (Tier.PLUS, "1.00", 30, "1000", 7),
    (Tier.PREMIUM, "2.00", 60, "2000", 14),
]
BREACH = [
    (Tier.STANDARD, "0.25", 7, "0", 0),
    (Tier.PLUS, "0.50", 14, "500", 7),
    (Tier.PREMIUM, "1.00", 30, "1000", 14),
]


def seed() -> int:
    """Create the demo policies when there are none; return how many were created."""
    if Policy.objects.exists():
        return 0
    outage = Policy.objects.create(
        name="Hotline or channel outage (SEV1/SEV2, 1 hour or more)",
        position=1,
        event=EventKind.INCIDENT,
        max_severity_rank=2,
        min_duration_minutes=60,
        affects_contacts=True,
        affects_units=False,
    )
    breach = Policy.objects.create(
        name="P1/P2 ticket resolved late",
        position=2,
        event=EventKind.TICKET_BREACH,
        max_priority=2,
    )
    for policy, rows in ((outage, OUTAGE), (breach, BREACH)):
        PolicyTier.objects.bulk_create(
            [
                PolicyTier(
                    policy=policy,
                    tier=tier,
                    warranty_days_per_hour=Decimal(per_hour),
                    warranty_days_max=most,
                    voucher_value=Decimal(voucher),
                    priority_days=priority,
                )
                for tier, per_hour, most, voucher, priority in rows
            ]
        )
    return 2
