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


def no_socket_here(text: str) -> bool:
    """Chromium's console line for a WebSocket refused by pytest-django's live server.

    That server is WSGI: it has no /ws/ routes, so the workspace's live layer
    (static/tickets/live.js) cannot connect and the page stays a plain page, as it is meant
    to. Tests on that server ignore exactly this line; the live layer itself is tested
    against Daphne (tickets/tests/test_live_browser.py), where a failed socket still counts.
    """
    return text.startswith("WebSocket connection to ") and "/ws/" in text and "404" in text


def watched_page(browser, *, wsgi_server: bool = False, **context_options):
    """A new browser context and page, and the list its JavaScript errors, console errors and
    failed requests are collected in (a test asserts it stays empty). `wsgi_server`: the page
    is served by the live server without WebSockets (see no_socket_here)."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors: list[str] = []

    def console(message) -> None:
        if message.type == "error" and not (wsgi_server and no_socket_here(message.text)):
            errors.append(message.text)

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", console)
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


# Malware scanning: clamd on loopback with a one-signature database (no signature downloads).
def eicar() -> bytes:
    """The EICAR anti-virus test file (assembled here, so no file in the repository is one)."""
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def clamd_binary() -> str | None:
    return shutil.which("clamd") or (
        "/usr/sbin/clamd" if Path("/usr/sbin/clamd").exists() else None
    )


class Clamd:
    """A clamd on a free loopback port whose database holds only the EICAR signature (an
    .ndb body signature, matched anywhere in a file). Production uses freshclam's databases."""

    def __init__(self, directory: Path) -> None:
        import subprocess

        self.directory = directory
        database = directory / "db"
        database.mkdir(parents=True, exist_ok=True)
        (database / "welddesk-test.ndb").write_text(f"Eicar-Test-Signature:0:*:{eicar().hex()}\n")
        self.port = free_port()
        config = directory / "clamd.conf"
        config.write_text(
            "Foreground yes\n"
            f"TCPSocket {self.port}\n"
            "TCPAddr 127.0.0.1\n"
            f"DatabaseDirectory {database}\n"
            f"LogFile {directory / 'clamd.log'}\n"
            f"TemporaryDirectory {directory}\n"
            "StreamMaxLength 30M\n"
        )
        self.log = (directory / "clamd.out").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (our clamd, our config)
            [clamd_binary() or "clamd", "-c", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _wait(self, seconds: float = 60.0) -> None:
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"clamd exited: {(self.directory / 'clamd.out').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"zPING\0")
                    if s.recv(16).startswith(b"PONG"):
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("clamd did not start within a minute")

    def stop(self) -> None:
        import subprocess

        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


class Shots:
    """Numbered screenshots of one flow, in `directory` (emptied first), their paths printed.

    With `fits_screen` (the default) each page is also asserted to be no wider than the
    screen: on a 390 px phone, nothing may need sideways scrolling.
    """

    def __init__(self, directory, *, fits_screen: bool = True) -> None:
        import shutil

        self.dir = directory
        self.fits_screen = fits_screen
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.n = 0

    def __call__(self, page, step: str, *, full_page: bool = True) -> None:
        self.n += 1
        path = self.dir / f"{self.n:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if self.fits_screen:
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"{step}: the page is {wide}px wider than the screen"
        print(f"screenshot: {path}")  # noqa: T201 (the test output lists the screenshots)


# Object storage: moto's S3 server on loopback, spoken to over HTTP by boto3 (django-storages).
class S3Server:
    """moto's S3 API server in a thread, on a free loopback port. The desk reaches it as it
    would MinIO or AWS: real HTTP requests signed by boto3, no in-process mock."""

    ACCESS_KEY = "welddesk-test"
    SECRET_KEY = "welddesk-test-secret"  # moto accepts any key

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.SECRET_KEY,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def stop(self) -> None:
        self.server.stop()


class Bucket:
    """One test's bucket: what is in it, read straight from the S3 server."""

    def __init__(self, server: S3Server, name: str, prefix: str = "") -> None:
        self.server = server
        self.name = name
        self.prefix = prefix
        self.client = server.client()
        self.client.create_bucket(Bucket=name)

    def key(self, storage_name: str) -> str:
        return f"{self.prefix}/{storage_name}" if self.prefix else storage_name

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def read(self, storage_name: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=self.key(storage_name))["Body"].read()

    def head(self, storage_name: str) -> dict:
        return self.client.head_object(Bucket=self.name, Key=self.key(storage_name))

    def put(self, storage_name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=self.key(storage_name), Body=data)


class WebhookReceiver:
    """A partner's system on loopback: records every POST (path, headers, body) and answers
    each path with the status set in `answers` (200 by default)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.requests: list[dict] = []
        self.answers: dict[str, int] = {}
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "headers": headers, "body": body})
                self.send_response(receiver.answers.get(self.path, 200))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def at(self, path: str) -> list[dict]:
        """What reached one path, in order."""
        with self._lock:
            return [r for r in self.requests if r["path"] == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def webhook_signature_ok(secret: str, request: dict, *, tolerance: int = 300) -> bool:
    """Check a received webhook as a partner would (docs/webhooks.md): the HMAC-SHA256 of
    "<timestamp>.<body>" with the secret, and a recent timestamp."""
    import hashlib
    import hmac
    import time

    timestamp = request["headers"]["x-welddesk-timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    return (
        hmac.compare_digest(request["headers"]["x-welddesk-signature"], f"sha256={expected}")
        and abs(time.time() - int(timestamp)) <= tolerance
    )
