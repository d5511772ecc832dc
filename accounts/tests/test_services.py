"""Users and organisations through accounts.services: validation, audit, access changes."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.models import Session
from django.core import mail

from accounts import roles, services
from accounts.models import Region, User, UserSession
from audit.models import AuditEvent
from audit.selectors import chain_verify
from core import crypto
from core.errors import ApplicationError, Forbidden
from testsupport import PASSWORD

pytestmark = pytest.mark.django_db


def test_user_create_audits_without_personal_values(make_org):
    org = make_org()
    user = services.user_create(
        email="Li.Na@Factory.example", full_name="李娜", password=PASSWORD, organisation=org
    )
    assert user.email == "li.na@factory.example"
    event = AuditEvent.objects.get(action="user.created", target_id=str(user.pk))
    assert "email" in event.changed_fields
    assert "li.na" not in str(event.data) and "李娜" not in str(event.data)
    assert event.data["values"]["organisation"] == org.pk


def test_duplicate_email_is_refused_whatever_its_case(make_customer):
    make_customer(email="chen@jinchuan.example")
    with pytest.raises(ApplicationError, match="already exists"):
        make_customer(email="  CHEN@Jinchuan.Example ")
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "not-an-email", "full_name": "x"}, "valid email"),
        ({"email": "a@b.example", "full_name": "   "}, "full name"),
        ({"email": "a@b.example", "full_name": "x", "password": "Password1"}, "stronger password"),
    ],
)
def test_user_create_refuses_bad_input_and_writes_nothing(make_org, kwargs, message):
    with pytest.raises(ApplicationError, match=message):
        services.user_create(organisation=make_org(), **kwargs)
    assert User.objects.count() == 0
    assert not AuditEvent.objects.filter(action="user.created").exists()


def test_customers_need_an_organisation_and_staff_must_not_have_one(make_org):
    with pytest.raises(ApplicationError, match="needs an organisation"):
        services.user_create(email="c@x.example", full_name="C")
    with pytest.raises(ApplicationError, match="do not belong"):
        services.user_create(
            email="s@x.example", full_name="S", is_staff=True, organisation=make_org()
        )


@pytest.mark.parametrize("weak", ["Password1", "password123", "12345678901", "qwertyuiop"])
def test_common_passwords_are_rejected(make_org, weak):
    with pytest.raises(ApplicationError) as info:
        services.user_create(
            email="p@x.example", full_name="P", password=weak, organisation=make_org()
        )
    assert info.value.code == "weak_password"


def test_the_3000_most_common_passwords_are_all_rejected():
    """Checklist 6: every one of the 3000 most common passwords (Django's list is ordered by
    frequency) fails the validation user_create and password changes apply."""
    import gzip

    from django.contrib.auth.password_validation import (
        CommonPasswordValidator,
        validate_password,
    )
    from django.core.exceptions import ValidationError

    with gzip.open(CommonPasswordValidator().DEFAULT_PASSWORD_LIST_PATH, "rt") as listing:
        common = [line.strip() for _, line in zip(range(3000), listing, strict=False)]
    person = User(email="p@x.example", full_name="P")
    accepted = []
    for password in [*common, "Password1"]:
        try:
            validate_password(password, person)
        except ValidationError:
            continue
        accepted.append(password)
    assert accepted == []


def test_a_long_passphrase_without_composition_rules_is_accepted(make_org):
    passphrase = "the chiller alarm rang twice before the seam cracked on line four ok"[:64]
    assert len(passphrase) == 64 and passphrase.islower()  # no digit, capital or symbol
    user = services.user_create(
        email="p@x.example", full_name="P", password=passphrase, organisation=make_org()
    )
    assert user.check_password(passphrase)


def test_access_changes_are_audited(make_staff):
    supervisor = make_staff(roles=[roles.SUPERVISOR])
    agent = make_staff(roles=[roles.AGENT], regions=())
    east = Region.objects.get(code="east")
    services.user_set_access(
        user=agent, actor=supervisor, roles=[roles.AGENT, roles.SUPERVISOR], regions=[east]
    )
    event = AuditEvent.objects.filter(action="user.access_changed").latest("seq")
    assert event.actor_ref == f"user:{supervisor.pk}"
    assert event.data["roles"] == [roles.AGENT, roles.SUPERVISOR]
    assert event.data["roles_before"] == [roles.AGENT]
    assert event.data["regions"] == ["east"]
    assert set(agent.groups.values_list("name", flat=True)) == {roles.AGENT, roles.SUPERVISOR}
    # Nothing changed: nothing audited.
    count = AuditEvent.objects.count()
    services.user_set_access(user=agent, actor=supervisor, roles=[roles.SUPERVISOR, roles.AGENT])
    assert AuditEvent.objects.count() == count


def test_unknown_role_is_refused(make_staff):
    agent = make_staff()
    with pytest.raises(ApplicationError, match="Unknown role"):
        services.user_set_access(user=agent, actor=None, roles=["pirate"])


def test_deactivation_ends_all_sessions(client, make_customer):
    user = make_customer()
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert UserSession.objects.filter(user=user).count() == 1
    services.user_set_access(user=user, actor=None, is_active=False)
    assert not Session.objects.exists()
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_password_change_ends_other_sessions_and_tells_the_owner(
    client, make_customer, django_capture_on_commit_callbacks
):
    from django.test import Client

    user = make_customer(language="zh-hans")
    other = Client()
    other.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    keep = client.session.session_key
    with django_capture_on_commit_callbacks(execute=True):
        services.user_change_password(
            user=user, new_password="a brand new passphrase 2026", actor=user, keep_session_key=keep
        )
    assert list(Session.objects.values_list("session_key", flat=True)) == [keep]
    assert other.get("/").status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "您的 WeldDesk 密码已更改"
    assert chain_verify().ok


def test_profile_update_refreshes_blind_indexes(make_customer):
    user = make_customer(email="old@x.example")
    proof = services.Reauthentication(actor_id=user.pk, at=time.time())
    services.user_update_profile(
        user=user, actor=user, reauth=proof, email="New@X.example", phone="138 0013 8000"
    )
    assert User.objects.get_by_natural_key("new@x.example").pk == user.pk
    assert User.objects.filter(phone_bidx=crypto.blind_index("phone", "+8613800138000")).exists()
    with pytest.raises(ApplicationError, match="cannot be changed"):
        services.user_update_profile(user=user, actor=user, is_superuser=True)


@pytest.mark.parametrize(
    "proof",
    [
        None,
        lambda user, other: services.Reauthentication(actor_id=other.pk, at=time.time()),
        lambda user, other: services.Reauthentication(actor_id=user.pk, at=time.time() - 301),
    ],
    ids=["none", "another_persons", "stale"],
)
@pytest.mark.parametrize("field", ["email", "phone"])
def test_a_person_changes_an_email_or_phone_only_with_a_fresh_reauthentication(
    make_customer, proof, field
):
    """Checklist 10 at the service: without the actor's own proof from the last five
    minutes, 403 (reauth_required) and nothing changes."""
    user, other = make_customer(email="me@x.example"), make_customer()
    with pytest.raises(Forbidden) as refused:
        services.user_update_profile(
            user=user,
            actor=user,
            reauth=proof(user, other) if proof else None,
            **{field: "new@x.example" if field == "email" else "+86 139 0000 0000"},
        )
    assert (refused.value.status_code, refused.value.code) == (403, "reauth_required")
    user.refresh_from_db()
    assert (user.email, user.phone) == ("me@x.example", "")
    assert not AuditEvent.objects.filter(action="user.profile_changed").exists()
    # Other preferences need no proof.
    services.user_update_profile(user=user, actor=user, language="en")


def test_organisation_update_audits_changes(make_org):
    org = make_org(tier="standard")
    services.organisation_update(
        organisation=org, actor=None, tier="premium", contact_email="boss@x.example"
    )
    event = AuditEvent.objects.filter(action="organisation.changed").latest("seq")
    assert event.data["values"] == {"tier": "premium"}
    assert sorted(event.changed_fields) == ["contact_email", "tier"]
    with pytest.raises(ApplicationError, match="tier"):
        services.organisation_update(organisation=org, actor=None, tier="diamond")


def test_an_empty_reauthentication_asks_for_the_password_and_is_no_guess(make_customer, rf):
    """Submitting the form without a password is a clear request for it, audited, but not a
    wrong password: ten of them leave the lock untouched and the right password still works.
    The message names the code only to people who have an authenticator."""
    person = make_customer()
    request = rf.post("/", REMOTE_ADDR="203.0.113.9")
    for _attempt in range(10):
        with pytest.raises(Forbidden) as refused:
            services.reauthenticate(request=request, actor=person, password="")
        assert refused.value.fields == {
            "reauth_password": ["Enter your password to confirm this change."]
        }
    assert (
        AuditEvent.objects.filter(action="auth.reauth_failed", data__reason="missing").count() == 10
    )
    proof = services.reauthenticate(request=request, actor=person, password=PASSWORD)
    assert proof.actor_id == person.pk
    with pytest.raises(Forbidden, match=r"Enter your password to confirm this change\."):
        services.user_update_profile(user=person, actor=person, phone="138 0013 8000")


def test_an_api_key_or_other_non_person_actor_never_changes_an_identity(make_customer):
    """Only a person who re-authenticated (or the desk itself, no actor) may change an e-mail,
    phone or device: an API key's principal, or a name, is refused outright."""
    person = make_customer(email="keep@x.example")
    for actor in ("api_key:7", object()):
        with pytest.raises(Forbidden):
            services.user_update_profile(user=person, actor=actor, email="taken@x.example")
    person.refresh_from_db()
    assert person.email == "keep@x.example"


def _priority_effects(orgs) -> list[tuple]:
    found = []
    for org in orgs:
        org.refresh_from_db()
        events = [
            (e.action, e.actor_ref, e.changed_fields, e.data)
            for e in AuditEvent.objects.filter(
                target_type="accounts.organisation",
                target_id=str(org.pk),
                action="organisation.priority_service",
            ).order_by("seq")
        ]
        found.append((org.priority_service_until, events))
    return found


def test_priority_set_many_does_what_one_at_a_time_does(make_org):
    """The batch service is the one home of the rule: the same ends and audit events as
    `organisation_priority_set` called change by change (an unchanged end is not audited)."""
    import datetime as dt

    from django.utils import timezone

    now = timezone.now().replace(microsecond=0)
    one, many = [make_org() for _ in range(3)], [make_org() for _ in range(3)]
    plan = [
        (0, now + dt.timedelta(days=7), "grant:1"),
        (1, now + dt.timedelta(days=14), "grant:2"),
        (1, now + dt.timedelta(days=14), "grant:3"),  # no change: no event
        (2, now + dt.timedelta(days=1), "grant:4"),
        (2, None, "grant:4 reversed"),
    ]
    for n, until, reason in plan:
        services.organisation_priority_set(
            organisation=one[n], until=until, actor=None, reason=reason
        )
    services.organisations_priority_set_many(
        changes=[
            services.PriorityChange(organisation_id=many[n].pk, until=until, reason=reason)
            for n, until, reason in plan
        ],
        actor=None,
    )
    assert _priority_effects(many) == _priority_effects(one)
    assert [len(events) for _until, events in _priority_effects(many)] == [1, 1, 2]
    with pytest.raises(ApplicationError):
        services.organisations_priority_set_many(
            changes=[services.PriorityChange(organisation_id=many[0].pk, until=None, reason=" ")],
            actor=None,
        )
