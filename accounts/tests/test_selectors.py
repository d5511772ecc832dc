"""accounts.selectors that other apps read accounts through: what each returns, in how many
queries (the subquery ones cost nothing until the caller's own query runs)."""

from __future__ import annotations

import pytest

from accounts import roles, selectors
from accounts.models import Organisation, Region, User
from accounts.services import user_set_access

pytestmark = pytest.mark.django_db


def test_regions_by_code_keys_every_region_by_its_lower_case_code(django_assert_num_queries):
    with django_assert_num_queries(1):
        regions = selectors.regions_by_code()

    assert set(regions) == {region.code.lower() for region in Region.objects.all()}
    assert regions["east"] == Region.objects.get(code="east")


def test_organisations_for_export_reads_all_or_a_subquery_s_by_code_in_one_query(
    make_org, django_assert_num_queries
):
    second = make_org(code="B-2")
    first = make_org(code="A-1", region="south")
    make_org(code="C-3")
    wanted = Organisation.objects.filter(code__in=["B-2", "A-1"]).values("pk")

    with django_assert_num_queries(1):
        rows = selectors.organisations_for_export(ids=wanted)

    assert rows == [
        {"pk": first.pk, "code": "A-1", "name": first.name, "region__code": "south"},
        {"pk": second.pk, "code": "B-2", "name": second.name, "region__code": "east"},
    ]
    assert [row["code"] for row in selectors.organisations_for_export()] == ["A-1", "B-2", "C-3"]


def test_desk_staff_and_customers_among_a_subquery_are_the_active_ones_only(
    make_staff, make_customer, django_assert_num_queries
):
    agent = make_staff(roles=(roles.AGENT,))
    supervisor = make_staff(roles=(roles.SUPERVISOR,))
    make_staff(roles=(roles.COMPLIANCE,))
    gone = make_staff(roles=(roles.AGENT,))
    user_set_access(user=gone, actor=None, is_active=False)
    customer, other = make_customer(), make_customer()
    user_set_access(user=make_customer(), actor=None, is_active=False)

    with django_assert_num_queries(0):
        desk = selectors.active_staff_ids_with_roles([roles.AGENT, roles.SUPERVISOR])
    with django_assert_num_queries(1):
        people = selectors.users_among(desk)
    assert sorted(person.pk for person in people) == [agent.pk, supervisor.pk]

    with django_assert_num_queries(1):
        customers = list(selectors.active_customers_among(User.objects.values("pk")))
    assert customers == [customer, other]
