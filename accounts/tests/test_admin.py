"""The accounts admin: blind-index search, saves through services, audited permission changes."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission

from accounts import roles
from accounts.models import User
from audit.models import AuditEvent
from testsupport import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_staff):
    user = make_staff(roles=(), is_superuser=True)
    sign_in(client, user)
    return client


def test_user_search_by_email_uses_the_blind_index(admin_client, make_customer):
    target = make_customer(email="huang.li@jinchuan.example")
    make_customer(email="someone.else@jinchuan.example")
    html = admin_client.get(
        "/admin/accounts/user/", {"q": "  Huang.Li@Jinchuan.example "}
    ).content.decode()
    assert f"/admin/accounts/user/{target.pk}/change/" in html
    assert "someone.else" not in html


def test_creating_a_staff_member_in_the_admin_goes_through_the_service(admin_client):
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new.agent@welddesk.example",
            "full_name": "新坐席",
            "phone": "",
            "language": "zh-hans",
            "timezone": "Asia/Shanghai",
            "is_active": "on",
            "is_staff": "on",
            "roles": [roles.AGENT],
            "password": "a long enough passphrase",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get_by_natural_key("new.agent@welddesk.example")
    assert list(user.groups.values_list("name", flat=True)) == [roles.AGENT]
    assert AuditEvent.objects.filter(action="user.created", target_id=str(user.pk)).exists()
    assert not LogEntry.objects.exists()  # no plaintext copy of the name in django_admin_log


def test_admin_form_reports_a_duplicate_email(admin_client, make_customer):
    existing = make_customer(email="dup@x.example")
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "DUP@x.example",
            "full_name": "x",
            "language": "en",
            "timezone": "UTC",
            "organisation": existing.organisation_id,
        },
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.count() == 2  # the admin and the existing customer


def test_role_change_in_the_admin_is_audited(admin_client, make_staff):
    agent = make_staff()
    response = admin_client.post(
        f"/admin/accounts/user/{agent.pk}/change/",
        {
            "email": agent.email,
            "full_name": agent.full_name,
            "phone": "",
            "language": "en",
            "timezone": "Asia/Shanghai",
            "is_active": "on",
            "is_staff": "on",
            "roles": [roles.AGENT, roles.SUPERVISOR],
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="user.access_changed", target_id=str(agent.pk)).get()
    assert event.data["roles"] == [roles.AGENT, roles.SUPERVISOR]


def test_group_permission_changes_are_audited(admin_client):
    group = Group.objects.get(name=roles.AGENT)
    perm = Permission.objects.get(codename="change_organisation")
    kept = list(group.permissions.values_list("pk", flat=True))
    response = admin_client.post(
        f"/admin/auth/group/{group.pk}/change/",
        {"name": group.name, "permissions": [*kept, perm.pk]},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="group.permissions_changed")
    assert event.data["added"] == ["accounts.change_organisation"]


def test_agents_cannot_open_the_user_admin_for_writing(client, make_staff, make_customer):
    agent = make_staff(roles=[roles.AGENT])
    sign_in(client, agent)
    customer = make_customer()
    assert client.get("/admin/accounts/user/").status_code == 200  # view permission
    response = client.post(f"/admin/accounts/user/{customer.pk}/change/", {"full_name": "hijack"})
    assert response.status_code == 403
    assert User.objects.get(pk=customer.pk).full_name != "hijack"


def test_customers_cannot_use_the_admin(client, make_customer):
    sign_in(client, make_customer())
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_users_cannot_be_deleted_in_the_admin(admin_client, make_customer):
    customer = make_customer()
    assert admin_client.get(f"/admin/accounts/user/{customer.pk}/delete/").status_code == 403
