"""Staff with view permission only open the person pages read-only (issue 17, point 7)."""

from __future__ import annotations

import pytest

from accounts import roles
from testsupport import sign_in

pytestmark = pytest.mark.django_db


def test_view_only_staff_open_a_person_page_read_only_not_a_500(client, make_staff, make_customer):
    """An agent has accounts.view_user but not change_user: the page used to raise
    KeyError 'organisation' (the form named a field the view-only form lacks)."""
    agent = make_staff(roles=[roles.AGENT])
    customer = make_customer(full_name="王建国")
    staff = make_staff(roles=[roles.SUPERVISOR])
    sign_in(client, agent)
    response = client.get(f"/admin/accounts/user/{customer.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="email"' not in page and 'name="full_name"' not in page  # read-only
    assert "王建国" in page
    assert "reauth" not in page.lower()  # nothing to confirm on a page that changes nothing
    # Staff accounts belong to no customer's region: a regional agent does not see them.
    assert client.get(f"/admin/accounts/user/{staff.pk}/change/").status_code == 404
