"""An outage declared late and dated back is assessed for the hours it really lasted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from compensation import services
from compensation.models import Grant, GrantKind
from status import services as status_services
from status.models import Component, Severity

pytestmark = pytest.mark.django_db


def test_a_start_dated_back_gives_the_assessment_its_hours_and_proposes_compensation(
    components, make_affected, outage_policy, supervisor, window
):
    Component.objects.update(created_at=timezone.now() - dt.timedelta(days=30))
    customer = make_affected("Ticket Co")  # opened a ticket 20 minutes into the outage
    # Typed two hours late and resolved at once: as typed, the outage lasted no time.
    incident = status_services.incident_open(
        actor=supervisor,
        severity=Severity.objects.get(key="sev2"),
        title_en="Hotline East down",
        title_zh="华东热线中断",
        components={components["east"]: "major_outage"},
        body_en="Calls do not reach us.",
        body_zh="电话无法接通。",
    )
    status_services.incident_update(
        incident=incident, actor=supervisor, state="resolved", body_en="Back.", body_zh="已恢复。"
    )
    incident.refresh_from_db()
    as_typed = services.assess_incident(incident=incident, actor=supervisor)
    assert as_typed.assessment.hours == Decimal("0.00") and as_typed.proposed == 0

    status_services.incident_happened_at(
        incident=incident, actor=supervisor, when=window[0], reason="Carrier log: down at start"
    )
    status_services.incident_happened_at(
        incident=incident,
        actor=supervisor,
        update=incident.updates.get(state="resolved"),
        when=window[1],
        reason="Carrier log: back",
    )
    incident.refresh_from_db()
    dated_back = services.assess_incident(incident=incident, actor=supervisor)
    assert dated_back.assessment.hours == Decimal("2.00")
    assert (dated_back.assessment.window_start, dated_back.assessment.window_end) == window
    # Plus tier, 2 hours: 2 days of warranty, a 1000 CNY voucher and a week of priority.
    grants = {g.kind: g for g in Grant.objects.filter(organisation=customer.organisation)}
    assert set(grants) == {GrantKind.WARRANTY, GrantKind.VOUCHER, GrantKind.PRIORITY}
    assert grants[GrantKind.WARRANTY].days == 2
    assert dated_back.proposed == 3
