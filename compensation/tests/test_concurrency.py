"""Two supervisors approving the same grants at once apply each of them once (PostgreSQL)."""

from __future__ import annotations

import pytest

from compensation import services
from compensation.models import Grant, GrantStatus, Voucher
from equipment.models import WarrantyExtension
from tickets.tests.test_concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_approvals_apply_each_grant_once(
    make_affected, make_incident, outage_policy, make_staff
):
    for n in range(6):
        make_affected(f"Org {n}", minutes=10 + n)
    incident = make_incident()
    first, second = (make_staff(roles=("supervisor",)) for _ in range(2))
    services.assess_incident(incident=incident, actor=first)
    ids = list(Grant.objects.values_list("pk", flat=True))
    assert len(ids) == 18
    outcomes = run_together(
        [
            lambda: services.grants_approve(grant_ids=ids, actor=first),
            lambda: services.grants_approve(grant_ids=list(reversed(ids)), actor=second),
        ]
    )
    for outcome in outcomes:
        assert outcome.error is None, outcome.error
    done = [o.value.done for o in outcomes]
    assert sum(done) == 18
    assert sum(o.value.skipped for o in outcomes) == 18
    assert set(Grant.objects.values_list("status", flat=True)) == {GrantStatus.APPLIED}
    assert WarrantyExtension.objects.count() == 6
    assert Voucher.objects.count() == 6
