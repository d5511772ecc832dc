"""Staff single sign-on against a fake OpenID Connect provider on loopback (real HTTP, the
real mozilla-django-oidc client): accounts, groups, second factor, deprovisioning, refusals."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.sessions.models import Session
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User, UserSession
from accounts.oidc import check_settings, forget_discovery
from accounts.services.auth import SESSION_PROVIDER
from accounts.tests.fake_oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeProvider
from audit.models import AuditEvent
from testsupport import current_code

pytestmark = pytest.mark.django_db

START = "/accounts/oidc/authenticate/"
CALLBACK = "/accounts/oidc/callback/"
EMAIL = "li.wei@welddesk.example"


@pytest.fixture
def provider(settings):
    with FakeProvider() as fake:
        settings.OIDC_ENABLED = True
        settings.AUTHENTICATION_BACKENDS = [
            "accounts.backends.EmailBackend",
            "accounts.oidc.ProviderBackend",
        ]
        settings.OIDC_PROVIDER_NAME = "Example ID"
        settings.OIDC_OP_ISSUER = fake.url  # endpoints from its discovery document
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
        settings.OIDC_ROLE_MAP = [("desk-agents", "agent"), ("desk-supervisors", "supervisor")]
        settings.OIDC_REGION_MAP = [("desk-east", "east"), ("desk-south", "south")]
        settings.OIDC_TRUSTED_AMR = ["mfa", "otp", "hwk"]
        settings.OIDC_TRUSTED_ACR = ["urn:example:loa:mfa"]
        settings.OIDC_RECHECK_SECONDS = 300
        forget_discovery()
        fake.person = {
            "sub": "u-1001",
            "email": EMAIL,
            "email_verified": True,
            "name": "李伟",
            "groups": ["desk-agents", "desk-east", "finance"],
        }
        fake.id_token_extra = {"amr": ["pwd", "mfa"]}
        yield fake
    forget_discovery()


def sso(client, provider, *, next_url: str = ""):
    """Press "Sign in with ...", let the provider redirect back, and return the desk's answer."""
    start = client.get(START + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302
    assert start["Location"].startswith(f"{provider.url}/authorize?")
    sent = parse_qs(urlsplit(start["Location"]).query)
    assert sent["state"][0] and sent["nonce"][0] and sent["code_challenge_method"] == ["S256"]
    answer = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    assert back.path == CALLBACK
    return client.get(f"{back.path}?{back.query}")


def roles_of(user) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def regions_of(user) -> list[str]:
    return sorted(user.regions.values_list("code", flat=True))


def refusal_reasons() -> list[str]:
    return [e.data["reason"] for e in AuditEvent.objects.filter(action="auth.oidc_refused")]


def recheck_now(client) -> None:
    """Make the session due for its next question to the provider."""
    session = client.session
    session[SESSION_PROVIDER] = {**session[SESSION_PROVIDER], "checked": 0}
    session.save()


# Signing in -----------------------------------------------------------------------------------


def test_a_first_sign_in_creates_a_staff_account_with_the_mapped_role_and_regions(client, provider):
    response = sso(client, provider)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    user = User.objects.get(oidc_subject="u-1001")
    assert user.email == EMAIL and user.full_name == "李伟"
    assert user.is_staff and not user.is_superuser and user.organisation is None
    assert not user.has_usable_password()
    assert roles_of(user) == ["agent"] and regions_of(user) == ["east"]
    created = AuditEvent.objects.get(action="user.created", target_id=str(user.pk))
    assert created.actor_ref == "identity_provider"
    assert (created.data["roles"], created.data["regions"]) == (["agent"], ["east"])
    login = AuditEvent.objects.get(action="auth.login", target_id=str(user.pk))
    assert login.data == {"method": "oidc", "second_factor": "amr:mfa"}
    assert UserSession.objects.filter(user=user).count() == 1


def test_the_provider_is_asked_over_its_endpoints_with_pkce_and_a_one_time_code(client, provider):
    sso(client, provider)
    assert provider.requests[:1] == ["/.well-known/openid-configuration"]
    assert {"/authorize", "/token", "/jwks", "/userinfo"} <= set(provider.requests)
    assert provider.codes == {}  # the code was spent


def test_a_second_sign_in_applies_changed_groups_and_audits_them(client, provider):
    sso(client, provider)
    user = User.objects.get(oidc_subject="u-1001")
    client.post("/accounts/logout/")
    provider.person["groups"] = ["desk-supervisors", "desk-south"]
    # The e-mail changed at the provider: the account is still found by its subject.
    provider.person["email"] = "wei.li@welddesk.example"
    assert sso(client, provider).status_code == 302
    user.refresh_from_db()
    assert roles_of(user) == ["supervisor"] and regions_of(user) == ["south"]
    change = AuditEvent.objects.get(action="user.access_changed", target_id=str(user.pk))
    assert change.actor_ref == "identity_provider"
    assert {k: change.data[k] for k in ("roles", "roles_before", "regions", "regions_before")} == {
        "roles": ["supervisor"],
        "roles_before": ["agent"],
        "regions": ["south"],
        "regions_before": ["east"],
    }
    assert User.objects.filter(is_staff=True, oidc_subject__isnull=False).count() == 1


def test_an_existing_staff_account_is_found_by_the_blind_index_and_linked(
    client, provider, make_staff
):
    staff = make_staff(email=EMAIL.upper(), roles=("supervisor",))
    assert sso(client, provider).status_code == 302
    staff.refresh_from_db()
    assert staff.oidc_subject == "u-1001"
    assert roles_of(staff) == ["agent"]  # the provider's groups decide from now on
    assert AuditEvent.objects.filter(action="user.provider_linked", target_id=str(staff.pk))
    assert User.objects.filter(is_staff=True).count() == 1


def test_a_sign_in_with_no_mapped_group_is_refused_and_audited(client, provider):
    provider.person["groups"] = ["finance", "desk-east"]  # a region alone gives no role
    response = sso(client, provider)
    assert response.status_code == 403
    assert "in no service-desk group" in response.content.decode()
    assert not User.objects.filter(oidc_subject="u-1001").exists()
    assert refusal_reasons() == ["no_group"]
    assert "_auth_user_id" not in client.session


def test_a_customers_e_mail_is_refused_and_the_customer_is_untouched(
    client, provider, make_customer
):
    customer = make_customer(email=EMAIL)
    response = sso(client, provider)
    assert response.status_code == 403
    assert "belongs to a customer account" in response.content.decode()
    customer.refresh_from_db()
    assert not customer.is_staff and customer.oidc_subject is None
    assert customer.groups.count() == 0
    refusal = AuditEvent.objects.get(action="auth.oidc_refused")
    assert (refusal.data["reason"], refusal.target_id) == ("customer", str(customer.pk))
    assert "_auth_user_id" not in client.session


def test_a_deactivated_staff_account_is_refused(client, provider):
    sso(client, provider)
    client.post("/accounts/logout/")
    User.objects.filter(oidc_subject="u-1001").update(is_active=False)
    response = sso(client, provider)
    assert response.status_code == 403 and "deactivated" in response.content.decode()
    assert refusal_reasons() == ["inactive"]


def test_an_unverified_e_mail_never_links_an_existing_account(client, provider, make_staff):
    staff = make_staff(email=EMAIL)
    provider.person["email_verified"] = False
    assert sso(client, provider).status_code == 403
    staff.refresh_from_db()
    assert staff.oidc_subject is None and refusal_reasons() == ["no_email"]


# Second factor --------------------------------------------------------------------------------


def test_a_trusted_amr_needs_no_desk_second_factor(client, provider):
    provider.id_token_extra = {"amr": ["pwd", "mfa"]}
    assert sso(client, provider)["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 200  # not 403 otp_required


def test_a_trusted_acr_needs_no_desk_second_factor(client, provider):
    provider.id_token_extra = {"acr": "urn:example:loa:mfa"}
    assert sso(client, provider)["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_password_only_sign_in_at_the_provider_still_needs_the_desks_second_factor(
    client, provider
):
    provider.id_token_extra = {"amr": ["pwd"], "acr": "urn:example:loa:1"}
    response = sso(client, provider)
    assert response["Location"] == "/accounts/2fa/setup/?next=/admin/"
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/accounts/2fa/setup/")
    login = AuditEvent.objects.get(action="auth.login")
    assert login.data == {"method": "oidc", "second_factor": "desk"}


def test_an_untrusted_list_means_the_desks_second_factor_even_for_mfa(client, provider, settings):
    settings.OIDC_TRUSTED_AMR = []
    settings.OIDC_TRUSTED_ACR = []
    assert sso(client, provider)["Location"].startswith("/accounts/2fa/setup/")


def test_a_new_single_sign_on_account_enrols_an_authenticator_without_a_desk_password(
    client, provider
):
    provider.id_token_extra = {"amr": ["pwd"]}
    sso(client, provider)
    page = client.get("/accounts/2fa/setup/?next=/admin/")
    assert page.status_code == 200 and "reauth_password" not in page.content.decode()
    device = TOTPDevice.objects.get(confirmed=False)
    response = client.post(
        "/accounts/2fa/setup/", {"token": current_code(device), "next": "/admin/"}
    )
    assert response.status_code == 200 and "backup" in response.content.decode().lower()
    assert client.get("/admin/").status_code == 200
    reauth = AuditEvent.objects.get(action="auth.reauthenticated")
    assert reauth.data == {"method": "oidc"}


# Asking the provider again: deprovisioning ------------------------------------------------------


def test_an_account_removed_at_the_provider_is_deactivated_and_its_sessions_end(client, provider):
    sso(client, provider)
    user = User.objects.get(oidc_subject="u-1001")
    other_browser = client.__class__()
    sso(other_browser, provider)
    assert UserSession.objects.filter(user=user).count() == 2
    assert client.get("/admin/").status_code == 200  # not due yet: the provider is not asked
    provider.remove("u-1001")
    recheck_now(client)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    user.refresh_from_db()
    assert not user.is_active
    assert not UserSession.objects.filter(user=user).exists()
    assert not Session.objects.filter(session_key=other_browser.session.session_key).exists()
    assert other_browser.get("/admin/").status_code == 302  # that session was ended too
    gone = AuditEvent.objects.get(action="auth.oidc_deprovisioned")
    assert (gone.actor_ref, gone.target_id, gone.data) == (
        "identity_provider",
        str(user.pk),
        {"reason": "userinfo_refused"},
    )
    change = AuditEvent.objects.get(action="user.access_changed", target_id=str(user.pk))
    assert change.changed_fields == ["is_active"]
    # And they cannot come back through the provider either.
    assert sso(client, provider).status_code == 400
    user.refresh_from_db()
    assert not user.is_active


def test_an_expired_access_token_is_renewed_with_the_refresh_token(client, provider):
    sso(client, provider)
    expire_access_token(client)
    assert client.get("/admin/").status_code == 200
    assert provider.requests.count("/token") == 2  # the code, then the refresh
    assert client.session[SESSION_PROVIDER]["expires_at"] > 0


def expire_access_token(client) -> None:
    session = client.session
    session[SESSION_PROVIDER] = {**session[SESSION_PROVIDER], "checked": 0, "expires_at": 0}
    session.save()


def test_a_refused_refresh_deactivates_and_a_later_accepted_sign_in_reactivates(client, provider):
    sso(client, provider)
    user = User.objects.get(oidc_subject="u-1001")
    # The provider revokes the grant (the account was disabled, or the person signed out
    # there: the desk cannot tell which).
    provider.refuse_refresh = True
    expire_access_token(client)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    user.refresh_from_db()
    assert not user.is_active and user.oidc_deprovisioned_at is not None
    gone = AuditEvent.objects.get(action="auth.oidc_deprovisioned")
    assert gone.data == {"reason": "refresh_refused"}
    # The provider vouches for the person again: the provider's own deactivation is lifted.
    provider.refuse_refresh = False
    assert sso(client, provider)["Location"] == "/admin/"
    user.refresh_from_db()
    assert user.is_active and user.oidc_deprovisioned_at is None
    back = AuditEvent.objects.filter(action="user.access_changed", target_id=str(user.pk))
    assert [e.data["values"]["is_active"] for e in back.order_by("seq")] == [False, True]
    assert [e.actor_ref for e in back] == ["identity_provider", "identity_provider"]


def test_an_account_a_supervisor_deactivated_stays_deactivated(client, provider, make_staff):
    from accounts.services import user_set_access

    sso(client, provider)
    user = User.objects.get(oidc_subject="u-1001")
    provider.refuse_refresh = True
    expire_access_token(client)
    client.get("/admin/")
    supervisor = make_staff(roles=("supervisor",))
    user_set_access(user=user, actor=supervisor, is_active=True)
    user_set_access(user=user, actor=supervisor, is_active=False)  # now a person's decision
    user.refresh_from_db()
    assert user.oidc_deprovisioned_at is None
    provider.refuse_refresh = False
    response = sso(client, provider)
    assert response.status_code == 403 and "deactivated" in response.content.decode()


def test_without_a_refresh_token_an_expired_session_ends_but_the_account_stays(client, provider):
    provider.issue_refresh_tokens = False
    sso(client, provider)
    expire_access_token(client)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert User.objects.get(oidc_subject="u-1001").is_active
    ended = AuditEvent.objects.get(action="auth.session_expired")
    assert ended.data == {"reason": "provider_expired"}


def test_groups_removed_at_the_provider_take_the_role_away_at_the_next_check(client, provider):
    sso(client, provider)
    user = User.objects.get(oidc_subject="u-1001")
    provider.person["groups"] = ["desk-supervisors"]
    recheck_now(client)
    assert client.get("/admin/").status_code == 200
    assert roles_of(user) == ["supervisor"] and regions_of(user) == []
    provider.person["groups"] = ["finance"]
    recheck_now(client)
    assert client.get("/admin/").status_code == 302
    assert "_auth_user_id" not in client.session
    assert refusal_reasons() == ["no_group"]


def test_a_provider_that_does_not_answer_the_check_does_not_sign_anyone_out(client, provider):
    sso(client, provider)
    provider.userinfo_status = 503
    recheck_now(client)
    assert client.get("/admin/").status_code == 200
    assert User.objects.get(oidc_subject="u-1001").is_active
    assert client.session[SESSION_PROVIDER]["checked"] > 0  # asked again next interval


def test_erasing_a_single_sign_on_account_forgets_its_subject(client, provider):
    from accounts.models import ProviderSecondFactor
    from accounts.services.users import user_erase

    sso(client, provider)
    client.post("/accounts/logout/")
    provider.person = {**provider.person, "sub": "u-2002", "email": "wang.fang@welddesk.example"}
    sso(client, provider)
    first, second = User.objects.filter(oidc_subject__isnull=False).order_by("pk")
    user_erase(user=first, actor=None)
    user_erase(user=second, actor=None)  # two erased accounts: no clash on the unique column
    assert not User.objects.filter(oidc_subject__isnull=False).exists()
    assert not ProviderSecondFactor.objects.exists()


# Bad answers are 4xx, never 500 -----------------------------------------------------------------


def test_an_unknown_state_is_a_400_and_signs_nobody_in(client, provider):
    client.get(START)  # the session now holds one real state
    response = client.get(f"{CALLBACK}?code=whatever&state=forged")
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
    assert refusal_reasons() == ["invalid_response"]


def test_a_callback_without_a_started_sign_in_is_a_400(client, provider):
    assert client.get(f"{CALLBACK}?code=x&state=y").status_code == 400
    assert client.get(f"{CALLBACK}?error=access_denied&state=y").status_code == 400
    assert sorted(refusal_reasons()) == ["failed", "provider_error"]


def test_a_replayed_callback_is_refused(client, provider):
    start = client.get(START)
    back = urlsplit(
        requests.get(start["Location"], allow_redirects=False, timeout=5).headers["Location"]
    )
    first = client.get(f"{back.path}?{back.query}")
    assert first.status_code == 302
    again = client.get(f"{back.path}?{back.query}")  # its state was used up
    assert again.status_code == 400 and refusal_reasons() == ["invalid_response"]


def test_an_id_token_for_another_client_is_refused(client, provider):
    provider.id_token_extra = {"aud": "someone-else", "amr": ["mfa"]}
    assert sso(client, provider).status_code == 400
    assert not User.objects.exists() or not User.objects.filter(oidc_subject="u-1001").exists()


def test_an_unreachable_provider_is_a_502_with_a_message(client, provider, settings):
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:9"  # nothing listens on the discard port
    forget_discovery()
    response = client.get(START)
    assert response.status_code == 502
    assert "could not be reached" in response.content.decode()


# Off by default ---------------------------------------------------------------------------------


def test_with_single_sign_on_off_the_routes_are_404_and_there_is_no_button(client, settings):
    settings.OIDC_ENABLED = False
    assert client.get(START).status_code == 404
    assert client.get(f"{CALLBACK}?code=x&state=y").status_code == 404
    page = client.get("/accounts/login/").content.decode()
    assert "sso-sign-in" not in page and "Sign in with" not in page


def test_with_single_sign_on_on_the_sign_in_page_shows_the_button(client, provider):
    page = client.get("/accounts/login/?next=/admin/tickets/").content.decode()
    assert "Sign in with Example ID" in page
    assert 'href="/accounts/oidc/authenticate/?next=/admin/tickets/"' in page


def test_the_button_keeps_next_and_the_provider_brings_the_person_back_there(client, provider):
    response = sso(client, provider, next_url="/admin/tickets/")
    assert response["Location"] == "/admin/tickets/"


def test_customers_keep_signing_in_with_their_e_mail(client, provider, make_customer, password):
    customer = make_customer()
    response = client.post("/accounts/login/", {"email": customer.email, "password": password})
    assert response.status_code == 302 and response["Location"] == "/"
    assert provider.requests == []  # the provider is never asked about a password sign-in


def test_a_role_map_naming_an_unknown_role_is_a_configuration_error(provider, settings):
    assert check_settings() == []
    settings.OIDC_ROLE_MAP = [("desk-agents", "agnet")]
    assert [e.id for e in check_settings()] == ["welddesk.E020"]
