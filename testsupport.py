"""Helpers for tests: second-factor codes and signed-in clients (imported by tests)."""

from __future__ import annotations

PASSWORD = "correct horse battery staple 42"


def add_totp(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True, tolerance=1)


def current_code(device, offset_steps: int = 0) -> str:
    from django_otp.oath import totp

    code = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset_steps
    )
    return f"{code:0{device.digits}d}"


def sign_in(client, user, *, verified: bool = True):
    """Sign a user in through the session; staff get a verified second factor."""
    from django_otp import DEVICE_ID_SESSION_KEY

    client.force_login(user)
    if verified and user.is_staff:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or add_totp(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client
