"""The accounts admin: blind-index search, saves through services, audited permission changes."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import roles
from accounts.models import User
from audit.models import AuditEvent
from testsupport import PASSWORD, add_totp, current_code, sign_in

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


# --------------------------------------------------------------------------- re-authentication


@pytest.fixture
def supervisor_client(client, make_staff):
    supervisor = make_staff(roles=(), is_superuser=True)
    sign_in(client, supervisor)
    client.supervisor = supervisor
    return client


def change_person(client, person, **changes):
    data = {
        "email": person.email,
        "full_name": person.full_name,
        "phone": person.phone,
        "language": person.language or "en",
        "timezone": person.timezone,
        "is_active": "on",
        **changes,
    }
    return client.post(f"/admin/accounts/user/{person.pk}/change/", data)


@pytest.mark.parametrize(
    "proof",
    [{}, {"reauth_password": PASSWORD}, {"reauth_password": "wrong", "reauth_code": "000000"}],
    ids=["nothing", "password_without_code", "wrong_password"],
)
@pytest.mark.parametrize("field", ["email", "phone"])
def test_staff_change_a_persons_email_or_phone_only_after_reauthenticating(
    supervisor_client, make_customer, proof, field
):
    """Checklist 10 in the admin: a hijacked staff session cannot redirect a customer's
    e-mail (and so their reset links) or phone: without the staff member's own password and
    current code, 403 and nothing changes."""
    customer = make_customer(email="owner@jinchuan.example")
    value = "attacker@evil.example" if field == "email" else "+86 139 0000 0000"
    response = change_person(supervisor_client, customer, **{field: value}, **proof)
    assert response.status_code == 403
    customer.refresh_from_db()
    assert (customer.email, customer.phone) == ("owner@jinchuan.example", "")
    assert not AuditEvent.objects.filter(action="user.profile_changed").exists()
    assert AuditEvent.objects.filter(action="auth.reauth_failed").count() == 1


def test_staff_change_a_persons_email_with_their_password_and_code(
    supervisor_client, make_customer
):
    customer = make_customer(email="owner@jinchuan.example")
    device = TOTPDevice.objects.get(user=supervisor_client.supervisor)
    response = change_person(
        supervisor_client,
        customer,
        email="new.owner@jinchuan.example",
        reauth_password=PASSWORD,
        reauth_code=current_code(device),
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.email == "new.owner@jinchuan.example"
    changed = AuditEvent.objects.get(action="user.profile_changed", target_id=str(customer.pk))
    assert changed.actor_ref == f"user:{supervisor_client.supervisor.pk}"
    assert "email" in changed.changed_fields
    assert AuditEvent.objects.filter(action="auth.reauthenticated").count() == 1


def test_other_changes_in_the_admin_need_no_reauthentication(supervisor_client, make_customer):
    customer = make_customer()
    assert change_person(supervisor_client, customer, full_name="王工").status_code == 302
    customer.refresh_from_db()
    assert customer.full_name == "王工"


def test_resetting_a_persons_second_factor_needs_the_supervisors_password_and_code(
    client, make_staff
):
    """Checklist 10 for a supervisor's "reset a person's devices": the action asks for the
    supervisor's own password and code; without them, 403 and the devices stay. A real
    supervisor (the role, not a superuser) reaches the device list and its action."""
    supervisor_client = client
    supervisor_client.supervisor = make_staff(roles=("supervisor",))
    sign_in(supervisor_client, supervisor_client.supervisor)
    agent = make_staff()
    agent_device = add_totp(agent)
    url = "/admin/otp_totp/totpdevice/"
    selected = {"action": "reset_second_factor", "_selected_action": [agent_device.pk]}
    page = supervisor_client.post(url, selected)
    assert page.status_code == 200 and "Your authenticator code" in page.content.decode()
    refused = supervisor_client.post(
        url, {**selected, "confirm": "yes", "reauth_password": PASSWORD, "reauth_code": "000000"}
    )
    assert refused.status_code == 403
    assert TOTPDevice.objects.filter(user=agent).exists()
    assert not AuditEvent.objects.filter(action="otp.reset").exists()
    own = TOTPDevice.objects.get(user=supervisor_client.supervisor)
    own.throttle_reset()  # the wrong code above throttles the device for a second
    done = supervisor_client.post(
        url,
        {
            **selected,
            "confirm": "yes",
            "reauth_password": PASSWORD,
            "reauth_code": current_code(own),
        },
    )
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=agent).exists()
    assert AuditEvent.objects.filter(action="otp.reset", target_id=str(agent.pk)).exists()
