"""Tenancy: a customer sees only their organisation; a foreign id is a 404, and audited."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import permissions, roles
from accounts.models import Organisation, Region
from audit.models import AuditEvent
from testsupport import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_orgs(make_org, make_customer):
    org_a = make_org("苏州恒锐精密焊接有限公司", region="east")
    org_b = make_org("东莞锦川五金制品有限公司", region="south")
    return org_a, org_b, make_customer(org_a), make_customer(org_b)


def test_customer_gets_404_for_another_organisation_and_it_is_audited(client, two_orgs):
    org_a, org_b, alice, _ = two_orgs
    sign_in(client, alice)
    assert client.get(f"/api/v1/organisations/{org_a.pk}/").status_code == 200
    response = client.get(f"/api/v1/organisations/{org_b.pk}/")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.actor_ref, event.target_id, event.outcome) == (
        f"user:{alice.pk}",
        str(org_b.pk),
        "denied",
    )
    # A missing id and a foreign id answer alike.
    assert client.get("/api/v1/organisations/999999/").json() == response.json()


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_writes_to_a_foreign_organisation_are_refused(client, two_orgs, method):
    _, org_b, alice, _ = two_orgs
    sign_in(client, alice)
    response = getattr(client, method)(
        f"/api/v1/organisations/{org_b.pk}/", {"name": "x"}, content_type="application/json"
    )
    assert response.status_code in (404, 405)
    assert Organisation.objects.get(pk=org_b.pk).name == "东莞锦川五金制品有限公司"


def test_lists_contain_only_the_own_organisation_even_when_asked_for_another(client, two_orgs):
    org_a, org_b, alice, _ = two_orgs
    sign_in(client, alice)
    body = client.get(f"/api/v1/organisations/?organisation={org_b.pk}&id={org_b.pk}").json()
    assert [row["id"] for row in body["results"]] == [org_a.pk]


def test_agents_limited_to_regions_see_only_those_organisations(client, two_orgs, make_staff):
    org_a, org_b, _, _ = two_orgs
    east_agent = make_staff(regions=[Region.objects.get(code="east")])
    sign_in(client, east_agent)
    body = client.get("/api/v1/organisations/").json()
    assert [row["id"] for row in body["results"]] == [org_a.pk]
    assert client.get(f"/api/v1/organisations/{org_b.pk}/").status_code == 404


def test_supervisors_see_all_regions_whatever_regions_they_carry(client, two_orgs, make_staff):
    supervisor = make_staff(roles=[roles.SUPERVISOR], regions=[Region.objects.get(code="east")])
    sign_in(client, supervisor)
    assert client.get("/api/v1/organisations/").json()["count"] == 2
    officer = make_staff(roles=[roles.COMPLIANCE], regions=())
    assert (
        permissions.scope_by_organisation(
            officer, Organisation.objects.all(), org_field="pk"
        ).count()
        == 2
    )


@pytest.mark.parametrize("role_list", [[roles.AGENT], []], ids=["agent", "staff-without-role"])
def test_staff_without_a_region_see_nothing_fail_closed(client, two_orgs, make_staff, role_list):
    """A forgotten region hides every customer; it never shows all of them (issue 17.4)."""
    org_a, org_b, _, _ = two_orgs
    agent = make_staff(roles=role_list, regions=())
    sign_in(client, agent)
    assert client.get("/api/v1/organisations/").json()["count"] == 0
    for org in (org_a, org_b):
        assert client.get(f"/api/v1/organisations/{org.pk}/").status_code == 404
    assert permissions.staff_region_ids(agent) == []
    assert not permissions.sees_all_regions(agent)


def test_anonymous_and_orgless_users_see_nothing(two_orgs):
    from django.contrib.auth.models import AnonymousUser

    assert (
        permissions.scope_by_organisation(
            AnonymousUser(), Organisation.objects.all(), org_field="pk"
        ).count()
        == 0
    )
    # Not signed in: 401 with the scheme a partner system should use.
    anonymous = Client().get("/api/v1/organisations/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Api-Key"


def test_customer_responses_carry_no_internal_fields(client, two_orgs):
    _, _, alice, _ = two_orgs
    sign_in(client, alice)
    me = client.get("/api/v1/me/")
    assert me["Cache-Control"] == "no-store"
    assert set(me.json()) == {
        "id",
        "email",
        "full_name",
        "language",
        "is_staff",
        "roles",
        "organisation",
    }
    assert set(me.json()["organisation"]) == {
        "id",
        "name",
        "name_en",
        "tier",
        "region",
        "is_active",
    }


def test_list_endpoint_costs_a_fixed_number_of_queries(
    client, make_org, make_staff, django_assert_max_num_queries
):
    supervisor = make_staff(roles=[roles.SUPERVISOR])
    sign_in(client, supervisor)
    make_org()
    with django_assert_max_num_queries(12) as one:
        client.get("/api/v1/organisations/")
    for _ in range(49):
        make_org()
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get("/api/v1/organisations/").json()["count"] == 50


def test_objects_looked_up_by_typed_numbers_leave_out_foreign_ones_and_audit_them(
    two_orgs, django_assert_max_num_queries
):
    """The chat bot's lookups by typed numbers: a foreign one is left out like a missing one."""
    org_a, org_b, alice, _ = two_orgs
    organisations = Organisation.objects.all()
    found = permissions.scoped_among(
        alice, organisations, field="name", values=[org_a.name, org_b.name], org_field="pk"
    )
    assert found == [org_a]
    event = AuditEvent.objects.get(action="access.denied")
    assert (event.actor_ref, event.target_id) == (f"user:{alice.pk}", str(org_b.pk))
    assert permissions.scoped_among(alice, organisations, field="name", values=[]) == []
    # Two reads at most whatever the tables hold: the own ones, then the missing ones.
    with django_assert_max_num_queries(2):
        missing = permissions.scoped_among(
            alice, organisations, field="name", values=["无此公司"], org_field="pk"
        )
    assert missing == []
