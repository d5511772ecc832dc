"""Staff second factor: enforced everywhere, enrolment with a local QR, no replay, backup codes."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from audit.models import AuditEvent
from testsupport import PASSWORD, add_totp, current_code, sign_in

pytestmark = pytest.mark.django_db


def password_login(client: Client, user) -> None:
    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content


@pytest.mark.parametrize("url", ["/", "/admin/", "/admin/accounts/user/", "/accounts/security/"])
def test_staff_without_a_device_are_sent_to_setup_from_every_page(client, make_staff, url):
    password_login(client, make_staff())
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/setup/")


def every_path() -> list[str]:
    """One concrete path for every URL pattern of the desk (arguments filled with "1")."""
    import re as regex

    from django.contrib.admindocs.views import simplify_regex
    from django.urls import URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield simplify_regex(prefix + str(pattern.pattern))

    return sorted({regex.sub(r"<[^>]+>", "1", path) for path in walk(get_resolver().url_patterns)})


def test_staff_without_a_device_are_stopped_at_every_url_and_customers_are_not(
    make_staff, make_customer
):
    """Checklist 1, walked over every URL pattern: an agent without a confirmed device is sent
    to set-up from every page and the admin, and every API endpoint answers 403
    otp_required; only signing in and out (single sign-on too), the set-up itself and the
    health endpoints are open. The same walk as a customer never meets the second-factor
    gate."""
    exempt = (
        "/accounts/login/",
        "/accounts/logout/",
        "/accounts/2fa/",
        "/accounts/oidc/",  # single sign-on, a way of signing in (404 while it is off)
        "/admin/logout/",
        "/i18n/setlang/",
        "/healthz",
        "/readyz",
        "/metrics",
    )
    paths = every_path()
    assert len(paths) > 100 and any(p.startswith("/admin/") for p in paths)
    staff, customer = Client(raise_request_exception=False), Client(raise_request_exception=False)
    password_login(staff, make_staff())
    password_login(customer, make_customer())
    for path in paths:
        if path.startswith(exempt):
            continue
        response = staff.get(path)
        if path.startswith("/api/"):
            assert response.status_code == 403, path
            assert response.json()["error"]["code"] == "otp_required", path
        else:
            assert response.status_code == 302, path
            assert response["Location"].startswith("/accounts/2fa/setup/"), path
        answer = customer.get(path)
        assert not answer.get("Location", "").startswith("/accounts/2fa/"), path
        if path.startswith("/api/"):
            assert answer.status_code != 403 or "otp_required" not in answer.text, path


def test_staff_api_calls_need_the_second_factor(client, make_staff):
    password_login(client, make_staff())
    response = client.get("/api/v1/me/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "otp_required"


def test_staff_with_a_device_are_sent_to_verify(client, make_staff):
    staff = make_staff()
    add_totp(staff)
    response = client.post(
        "/accounts/login/", {"email": staff.email, "password": PASSWORD, "next": "/admin/"}
    )
    assert response["Location"] == "/accounts/2fa/verify/?next=/admin/"
    assert client.get("/admin/")["Location"].startswith("/accounts/2fa/verify/")


def test_customers_without_2fa_are_not_asked(client, make_customer):
    password_login(client, make_customer())
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 200


def test_enrolment_shows_a_local_svg_qr_and_confirms_with_a_code(client, make_staff):
    staff = make_staff()
    password_login(client, staff)
    page = client.get("/accounts/2fa/setup/?next=/admin/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and 'aria-label="QR code"' in html
    assert "<img" not in html and "http://" not in html.split("<svg", 1)[1].split("</svg>", 1)[
        0
    ].replace("http://www.w3.org", "")
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    response = client.post(
        "/accounts/2fa/setup/?next=/admin/",
        {"token": current_code(device), "next": "/admin/", "reauth_password": PASSWORD},
    )
    assert response.status_code == 200
    codes = re.findall(r"<code>([a-z0-9]+)</code>", response.content.decode())
    assert len(codes) == 10
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="otp.enrolled", target_id=str(staff.pk)).exists()


def test_a_wrong_enrolment_code_is_refused_and_audited(client, make_staff):
    staff = make_staff()
    password_login(client, staff)
    client.get("/accounts/2fa/setup/")
    response = client.post("/accounts/2fa/setup/", {"token": "000000", "reauth_password": PASSWORD})
    assert response.status_code == 400
    assert "not correct" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=staff, confirmed=True).exists()
    assert AuditEvent.objects.filter(action="otp.failed").exists()


def test_a_code_accepted_once_is_refused_the_second_time(make_staff):
    staff = make_staff()
    device = add_totp(staff)
    code = current_code(device)
    first, second = Client(), Client()
    password_login(first, staff)
    password_login(second, staff)
    assert first.post("/accounts/2fa/verify/", {"token": code}).status_code == 302
    replay = second.post("/accounts/2fa/verify/", {"token": code})
    assert replay.status_code == 400
    assert second.get("/admin/").status_code == 302
    assert AuditEvent.objects.filter(action="otp.verified").count() == 1
    assert AuditEvent.objects.filter(action="otp.failed").count() == 1


def test_wrong_codes_throttle_even_the_right_code(client, make_staff):
    """After n failures the device refuses every code for 2^(n-1) seconds."""
    from datetime import timedelta

    staff = make_staff()
    device = add_totp(staff)
    password_login(client, staff)
    wrong = "123456" if current_code(device) != "123456" else "654321"
    for expected_count in (1, 2, 3):
        TOTPDevice.objects.filter(pk=device.pk).update(
            throttling_failure_timestamp=(device.throttling_failure_timestamp or timezone.now())
            - timedelta(minutes=5)
        )
        device.refresh_from_db()
        client.post("/accounts/2fa/verify/", {"token": wrong})
        device.refresh_from_db()
        assert device.throttling_failure_count == expected_count
    allowed, _info = device.verify_is_allowed()
    assert not allowed
    response = client.post("/accounts/2fa/verify/", {"token": current_code(device)})
    assert response.status_code == 400
    assert "Too many wrong codes" in response.content.decode()
    # Still refused 3 seconds after the third failure (2^(3-1) x factor 1 = 4 seconds).
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(seconds=3)
    )
    device.refresh_from_db()
    refused = client.post("/accounts/2fa/verify/", {"token": current_code(device)})
    assert "Too many wrong codes" in refused.content.decode()
    # After 2^(3-1) = 4 seconds the right code works again.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(seconds=5)
    )
    assert client.post("/accounts/2fa/verify/", {"token": current_code(device)}).status_code == 302


def test_backup_codes_work_once(client, make_staff):
    staff = make_staff()
    add_totp(staff)
    codes = services.backup_codes_regenerate(user=staff, actor=None)
    password_login(client, staff)
    assert client.post("/accounts/2fa/verify/", {"token": codes[0].upper()}).status_code == 302
    assert client.get("/admin/").status_code == 200
    other = Client()
    password_login(other, staff)
    assert other.post("/accounts/2fa/verify/", {"token": codes[0]}).status_code == 400
    assert StaticToken.objects.filter(device__user=staff).count() == 9


def test_session_id_changes_when_the_second_factor_is_passed(client, make_staff):
    staff = make_staff()
    device = add_totp(staff)
    password_login(client, staff)
    before = client.cookies["sessionid"].value
    client.post("/accounts/2fa/verify/", {"token": current_code(device)})
    assert client.cookies["sessionid"].value != before


def test_a_second_device_cannot_be_enrolled_without_a_reset(client, make_staff):
    staff = make_staff()
    sign_in(client, staff)
    response = client.get("/accounts/2fa/setup/")
    assert response.status_code == 302 and response["Location"] == "/accounts/security/"
    assert TOTPDevice.objects.filter(user=staff).count() == 1


def test_regenerating_backup_codes_needs_the_password_and_a_code(client, make_staff):
    """Checklist 10 for backup codes (a second factor): without the password and a current
    code again, 403 and nothing changes."""
    staff = make_staff()
    sign_in(client, staff)
    device = TOTPDevice.objects.get(user=staff)
    url = "/accounts/security/backup-codes/"
    wrong_password = client.post(url, {"reauth_password": "wrong", "reauth_code": ""})
    no_code = client.post(url, {"reauth_password": PASSWORD, "reauth_code": ""})
    assert wrong_password.status_code == no_code.status_code == 403
    assert "Your password was not correct" in wrong_password.content.decode()
    assert "code from your authenticator app was not correct" in no_code.content.decode()
    assert not StaticToken.objects.filter(device__user=staff).exists()
    response = client.post(url, {"reauth_password": PASSWORD, "reauth_code": current_code(device)})
    assert response.status_code == 200
    assert StaticToken.objects.filter(device__user=staff).count() == 10
    assert AuditEvent.objects.filter(action="auth.reauth_failed").count() == 2
    assert AuditEvent.objects.filter(action="otp.backup_codes_regenerated").count() == 1


def test_customers_may_opt_in_and_are_then_asked(client, make_customer):
    customer = make_customer()
    password_login(client, customer)
    client.get("/accounts/2fa/setup/")
    device = TOTPDevice.objects.get(user=customer)
    client.post(
        "/accounts/2fa/setup/", {"token": current_code(device), "reauth_password": PASSWORD}
    )
    fresh = Client()
    response = fresh.post("/accounts/login/", {"email": customer.email, "password": PASSWORD})
    assert response["Location"].startswith("/accounts/2fa/verify/")
    assert fresh.get("/")["Location"].startswith("/accounts/2fa/verify/")


def test_the_admin_never_shows_totp_secrets_or_backup_codes(client, make_staff):
    admin_user = make_staff(roles=(), is_superuser=True)
    sign_in(client, admin_user)
    device = TOTPDevice.objects.get(user=admin_user)
    codes = services.backup_codes_regenerate(user=admin_user, actor=None)
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert device.key not in html
    from base64 import b32encode

    assert b32encode(device.bin_key).decode().rstrip("=") not in html
    assert client.get("/admin/otp_static/staticdevice/").status_code == 404
    listing = client.get("/admin/").content.decode()
    assert not any(code in listing for code in codes)


def test_staff_land_in_the_workspace_after_sign_in(client, make_staff):
    staff = make_staff()
    device = add_totp(staff)
    response = client.post("/accounts/login/", {"email": staff.email, "password": PASSWORD})
    assert response["Location"] == "/accounts/2fa/verify/?next=/admin/"
    verified = client.post(
        "/accounts/2fa/verify/?next=/admin/", {"token": current_code(device), "next": "/admin/"}
    )
    assert verified["Location"] == "/admin/"


def test_setting_up_an_authenticator_needs_the_password_again(client, make_customer):
    """Checklist 10 for a first authenticator: a stolen session cannot put the thief's phone
    in front of the account; without the password, 403 and no device is confirmed."""
    customer = make_customer()
    sign_in(client, customer)
    client.get("/accounts/2fa/setup/")
    device = TOTPDevice.objects.get(user=customer)
    refused = client.post("/accounts/2fa/setup/", {"token": current_code(device)})
    assert refused.status_code == 403
    assert not TOTPDevice.objects.filter(user=customer, confirmed=True).exists()
    assert not AuditEvent.objects.filter(action="otp.enrolled").exists()
    confirmed = client.post(
        "/accounts/2fa/setup/", {"token": current_code(device), "reauth_password": PASSWORD}
    )
    assert confirmed.status_code == 200
    assert TOTPDevice.objects.filter(user=customer, confirmed=True).exists()


def _verify(user, code: str) -> int:
    client = Client()
    password_login(client, user)
    return client.post("/accounts/2fa/verify/", {"token": code}).status_code


def test_totp_tolerance_is_one_step_from_settings_and_each_step_is_used_once(make_staff, settings):
    """Checklist 2: the decided tolerance (settings.OTP_TOTP_TOLERANCE = 1, a documented
    exception) accepts a code of the previous 30-second step, never one two steps old, and
    no step twice; the setting decides, whatever a device row says."""
    assert settings.OTP_TOTP_TOLERANCE == 1 and settings.OTP_TOTP_SYNC is False
    staff = make_staff()
    device = add_totp(staff)
    TOTPDevice.objects.filter(pk=device.pk).update(tolerance=5)  # an old, wider device row
    device.refresh_from_db()
    assert _verify(staff, current_code(device, offset_steps=-2)) == 400
    device.throttle_reset()
    previous = current_code(device, offset_steps=-1)
    assert _verify(staff, previous) == 302
    assert _verify(staff, previous) == 400  # the same code (its step) again
    device.refresh_from_db()
    device.throttle_reset()
    assert (device.tolerance, device.drift) == (1, 0)  # the window did not follow the clock
    assert _verify(staff, current_code(device)) == 302  # a newer step is fine
    # Tolerance 0, if decided so, refuses the previous step too.
    settings.OTP_TOTP_TOLERANCE = 0
    other = make_staff()
    add_totp(other)
    assert _verify(other, current_code(TOTPDevice.objects.get(user=other), -1)) == 400


def test_new_authenticators_get_the_decided_tolerance(client, make_customer, settings):
    customer = make_customer()
    sign_in(client, customer)
    client.get("/accounts/2fa/setup/")
    assert TOTPDevice.objects.get(user=customer).tolerance == settings.OTP_TOTP_TOLERANCE


def test_drift_an_old_device_row_learned_does_not_shift_the_window(make_staff):
    """A device row that learned a drift of 5 steps while django-otp followed the phone's clock
    (the old OTP_TOTP_SYNC default) accepts the codes of now, not those of 5 steps ahead."""
    staff = make_staff()
    device = add_totp(staff)
    TOTPDevice.objects.filter(pk=device.pk).update(drift=5)
    device.refresh_from_db()
    assert _verify(staff, current_code(device, offset_steps=5)) == 400
    device.throttle_reset()
    assert _verify(staff, current_code(device)) == 302
    device.refresh_from_db()
    assert device.drift == 0
