"""Helpers for tests: second-factor codes and signed-in clients (imported by tests)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

PASSWORD = "correct horse battery staple 42"


def free_port() -> int:
    """A free TCP port on loopback (for a test or benchmark server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Browser tests: Debian's Chromium driven by Playwright (never `playwright install`).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str | None:
    """The Chromium to drive: $CHROMIUM, else /usr/bin/chromium, else one on the PATH."""
    wanted = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    return wanted if Path(wanted).exists() else shutil.which("chromium")


def browser_marks() -> list:
    """The marks of a browser test module: its marker, a live server's database, and a skip
    without Chromium."""
    import pytest

    return [
        pytest.mark.browser,
        pytest.mark.django_db(transaction=True),
        pytest.mark.skipif(
            chromium() is None,
            reason="no Chromium: apt-get install -y chromium (the CI script installs it)",
        ),
    ]


def watched_page(browser, **context_options):
    """A new browser context and page, and the list its JavaScript errors, console errors and
    failed requests are collected in (a test asserts it stays empty)."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return context, page, errors


def browser_sign_in(page, base_url: str, email: str, password: str) -> None:
    """Sign a customer in through the login form."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_email", email)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()


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
