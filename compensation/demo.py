"""Demo compensation: the two policies, and one past outage made right.

The outage: three days ago the East China hotline was down for two and a half hours; Wang
Jianguo (Suzhou) reported a fault through the portal meanwhile. The seeder assesses it,
approves the grants, and publishes the incident report, so the portal's Compensation page, the
machine's warranty changes and /status/ show the whole flow after `make run`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

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
    """Create the demo policies and the past outage once; return how many were created."""
    created = _policies()
    if created:
        created += _past_outage()
    return created


def _past_outage() -> int:
    from accounts.selectors import user_by_email
    from compensation import services
    from compensation.models import Grant
    from status import services as status_services
    from status.models import Component, Severity
    from tickets.services.tickets import ticket_open

    customer = user_by_email("wang.jianguo@hengrui-weld.example")
    line = Component.objects.filter(key="hotline-east").first()
    supervisor = user_by_email("zhang.wei@welddesk.example")
    if customer is None or line is None:
        return 0
    end = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(days=3)
    start = end - dt.timedelta(hours=2, minutes=30)
    ticket_open(
        actor=customer,
        organisation=customer.organisation,
        requester=customer,
        subject="热线打不通：焊缝气孔需要支持",
        body="热线一直占线，只好在门户报修：不锈钢焊缝出现气孔。",
        priority=2,
        now=start + dt.timedelta(minutes=40),
    )
    incident = status_services.incident_open(
        actor="system:demo",
        severity=Severity.objects.get(key="sev2"),
        title_en="East China hotline unreachable",
        title_zh="华东热线无法接通",
        components={line: "major_outage"},
        body_en="Calls to the East China hotline fail. Please use the chat or the portal.",
        body_zh="华东热线无法接通，请使用在线客服或客户门户。",
        cause_en="A carrier trunk failed in Suzhou.",
        cause_zh="苏州运营商中继线路故障。",
        started_at=start,
    )
    status_services.incident_update(
        incident=incident,
        actor="system:demo",
        state="resolved",
        body_en="Calls reach us again.",
        body_zh="热线已恢复。",
        at=end,
    )
    incident.refresh_from_db()
    services.assess_incident(incident=incident, actor=supervisor)
    services.grants_approve(
        grant_ids=list(Grant.objects.values_list("pk", flat=True)),
        actor=supervisor,
        reason="Demo: outage policy applied",
    )
    status_services.report_publish(
        incident=incident,
        actor=supervisor,
        done_en="We moved the hotline to the backup carrier and called back every missed caller.",
        done_zh="我们将热线切换到备用运营商，并回拨了每一位未接通的来电客户。",
    )
    return 1


def _policies() -> int:
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
