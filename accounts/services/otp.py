"""Two-factor devices: TOTP enrolment with a QR code, verification without replay, backup codes."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services.auth import SESSION_NEEDS_OTP, remember_session
from accounts.services.reauth import Reauthentication, reauth_required
from audit.services import audit_record
from core.errors import ApplicationError

TOTP_NAME = "authenticator"
BACKUP_NAME = "backup codes"


class OtpRefused(Exception):
    def __init__(self, message: str, *, throttled: bool = False):
        super().__init__(message)
        self.message = message
        self.throttled = throttled


def has_confirmed_totp(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


@transaction.atomic
def otp_device_start(*, user: User) -> TOTPDevice:
    """Return the user's pending authenticator device, creating one if needed.

    Refused once a device is confirmed: replacing it needs `otp_devices_reset` first.
    """
    if has_confirmed_totp(user):
        raise ApplicationError(_("Two-factor authentication is already set up."), code="otp_exists")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name=TOTP_NAME, confirmed=False, tolerance=settings.OTP_TOTP_TOLERANCE
        )
        audit_record(action="otp.enrolment_started", actor=user, target=user)
    return device


def _new_backup_codes(user: User) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=BACKUP_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.OTP_BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _mark_verified(request, user: User, device: Any) -> None:
    previous = request.session.session_key
    otp_login(request, device)
    request.session.cycle_key()  # privilege changed: new session id
    request.session[SESSION_NEEDS_OTP] = True
    remember_session(request, user, previous_key=previous)


def otp_device_confirm(
    *, request, user: User, token: str, reauth: Reauthentication | None
) -> list[str]:
    """Confirm the pending device with a first code; return new single-use backup codes.

    Setting an authenticator needs the person's password again (`reauth`): a stolen session
    cannot put the thief's phone in front of the account. Failures are committed (throttle
    counter, audit row) before OtpRefused is raised.
    """
    reauth_required(actor=user, reauth=reauth)
    token = (token or "").replace(" ", "")
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("pk")
            .first()
        )
        if device is None:
            refusal = OtpRefused(_("Start the set-up again: no pending authenticator was found."))
        elif not device.verify_is_allowed()[0]:
            refusal = OtpRefused(
                _("Too many wrong codes. Wait a moment and try again."), throttled=True
            )
        elif not device.verify_token(token):
            audit_record(
                action="otp.failed",
                actor=user,
                target=user,
                outcome="failure",
                data={"step": "enrol"},
            )
            refusal = OtpRefused(
                _("That code is not correct. Check the time on your phone and try again.")
            )
        else:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            codes = _new_backup_codes(user)
            _mark_verified(request, user, device)
            audit_record(
                action="otp.enrolled", actor=user, target=user, data={"backup_codes": len(codes)}
            )
            return codes
    raise refusal


def code_check(*, user: User, token: str) -> tuple[Any | None, str, bool]:
    """Check a TOTP or backup code against the user's confirmed devices, rows locked.

    Return the device that accepted it (or None), the method ("totp", "backup_code") and
    whether a device refused because of too many wrong codes. A TOTP code is accepted within
    OTP_TOTP_TOLERANCE steps of the server's clock, and each step once (django-otp's last_t).
    Call inside a transaction: a failure's throttle counter must commit with its audit row.
    """
    token = (token or "").replace(" ", "").strip()
    if token.isdigit() and len(token) == 6:
        model, method = TOTPDevice, "totp"
    else:
        model, method = StaticDevice, "backup_code"
        token = token.lower()
    throttled = False
    for device in (
        model.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk")
    ):
        if not device.verify_is_allowed()[0]:
            throttled = True
            continue
        if method == "totp":
            # The decided window, never wider, and never shifted by drift a device row learned
            # when django-otp followed the phone's clock (OTP_TOTP_SYNC was on before).
            device.tolerance = settings.OTP_TOTP_TOLERANCE
            device.drift = 0
        if device.verify_token(token):
            return device, method, throttled
    return None, method, throttled


def otp_verify(*, request, user: User, token: str) -> Any:
    """Verify a TOTP or backup code for the signed-in user and mark the session verified.

    The device row is locked, so the same code sent twice at once is accepted only once.
    Failures are committed (throttle counter, audit row) before OtpRefused is raised.
    """
    with transaction.atomic():
        device, method, throttled = code_check(user=user, token=token)
        if device is not None:
            _mark_verified(request, user, device)
            audit_record(action="otp.verified", actor=user, target=user, data={"method": method})
            return device
        audit_record(
            action="otp.failed",
            actor=user,
            target=user,
            outcome="failure",
            data={"method": method, "throttled": throttled},
        )
    if throttled:
        raise OtpRefused(_("Too many wrong codes. Wait a moment and try again."), throttled=True)
    raise OtpRefused(_("That code is not correct."))


@transaction.atomic
def backup_codes_regenerate(
    *, user: User, actor: Any, reauth: Reauthentication | None = None
) -> list[str]:
    """Replace the user's backup codes (the old ones stop working); a person needs a fresh
    re-authentication (password and code)."""
    reauth_required(actor=actor, reauth=reauth)
    if not has_confirmed_totp(user):
        raise ApplicationError(_("Set up an authenticator app first."))
    codes = _new_backup_codes(user)
    audit_record(action="otp.backup_codes_regenerated", actor=actor, target=user)
    return codes


@transaction.atomic
def otp_devices_reset(
    *, user: User, actor: Any, reason: str = "", reauth: Reauthentication | None = None
) -> int:
    """Remove all of a user's second-factor devices (lost phone); they must enrol again.

    A supervisor doing it gives their own password and code first (`reauth`): otherwise a
    hijacked staff session could strip a person's second factor.
    """
    reauth_required(actor=actor, reauth=reauth)
    removed = TOTPDevice.objects.filter(user=user).delete()[0]
    removed += StaticDevice.objects.filter(user=user).delete()[0]
    audit_record(action="otp.reset", actor=actor, target=user, data={"reason_given": bool(reason)})
    return removed
