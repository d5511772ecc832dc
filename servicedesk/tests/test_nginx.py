"""The nginx configuration in deploy/nginx, run in a real nginx on loopback in front of the
desk: bodies over the limit get 413 from nginx, a file over the app's limit a 413 from the app;
attachments are sent by nginx only after the app's permission check (X-Accel-Redirect) and are
unreachable directly; nginx's access log holds no query string."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from testsupport import free_port, sign_in

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "nginx"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EMAIL = "wang.jianguo@hengrui-weld.example"

pytestmark = pytest.mark.django_db(transaction=True)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def _config(tmp: Path, port: int, upstream: int, media: Path) -> Path:
    """The deploy files in a test http{} block: the log format, the map and the locations as
    shipped, the upstream pointed at the live server and the media path at the test's."""
    main = (DEPLOY / "welddesk.conf").read_text()
    log_format = re.search(r"^log_format welddesk .*?;$", main, re.S | re.M).group(0)
    upgrade_map = re.search(r"^map \$http_upgrade .*?^}$", main, re.S | re.M).group(0)
    locations = (DEPLOY / "welddesk-locations.conf").read_text()
    assert "/srv/welddesk/var/media/" in locations
    (tmp / "locations.conf").write_text(locations.replace("/srv/welddesk/var/media/", f"{media}/"))
    config = tmp / "nginx.conf"
    temp = " ".join(f"{kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy"))
    temp += "".join(f" {kind}_temp_path {tmp}/{kind};" for kind in ("fastcgi", "uwsgi", "scgi"))
    config.write_text(
        f"""
daemon off;
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    {temp}
    {log_format}
    {upgrade_map}
    upstream welddesk {{ server 127.0.0.1:{upstream}; }}
    server {{
        listen 127.0.0.1:{port};
        access_log {tmp}/access.log welddesk;
        include {tmp}/locations.conf;
    }}
}}
"""
    )
    return config


@pytest.fixture
def nginx(live_server, tmp_path, settings):
    binary = nginx_binary()
    if binary is None:
        reason = "needs nginx: apt-get install -y nginx-light (the CI script installs it)"
        if os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes", "on"}:
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    settings.ATTACHMENT_X_ACCEL_PREFIX = "/protected"
    port = free_port()
    config = _config(tmp_path, port, urlsplit(live_server.url).port, media)
    process = subprocess.Popen(
        [binary, "-c", str(config), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"nginx did not start: {(tmp_path / 'error.log').read_text()}")
            time.sleep(0.1)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "log": tmp_path / "access.log", "media": media}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def fetch(url: str, *, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    body = "".join(parts).encode()
    for name, (filename, content) in files.items():
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + content
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def api_key(make_customer, make_staff):
    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create

    customer = make_customer()
    _key, token = api_key_create(
        actor=make_staff(roles=("supervisor",)),
        organisation=customer.organisation,
        name="ERP",
        scope=ApiScope.READ_WRITE,
    )
    return token


def test_nginx_refuses_a_body_over_its_limit_with_413_before_the_app(nginx, api_key, caplog):
    body, kind = multipart(
        {"subject": "Big"}, {"attachments": ("big.png", PNG + b"\0" * 22 * 2**20)}
    )
    status, _headers, content = fetch(
        f"{nginx['base']}/api/v1/tickets/",
        data=body,
        headers={"Content-Type": kind, "Authorization": f"Api-Key {api_key}"},
    )
    assert status == 413 and b"nginx" in content  # nginx's own page: the app never saw it
    assert not [
        r for r in caplog.records if r.name == "welddesk.access" and "POST" in r.getMessage()
    ]


def test_a_file_over_the_apps_limit_gets_the_apps_413_through_nginx(nginx, api_key, settings):
    oversized = PNG + b"\0" * (settings.ATTACHMENT_MAX_BYTES - len(PNG) + 1)  # 20 MB + 1 byte
    body, kind = multipart(
        {"subject": "Photo of the seam", "body": "See the photo."},
        {"attachments": ("seam.png", oversized)},
    )
    assert len(body) < 21 * 2**20  # under nginx's limit: this 413 is the app's
    status, headers, content = fetch(
        f"{nginx['base']}/api/v1/tickets/",
        data=body,
        headers={"Content-Type": kind, "Authorization": f"Api-Key {api_key}"},
    )
    assert status == 413, content[:300]
    assert headers["Content-Type"].startswith("application/json")
    assert b'"too_large"' in content


def test_attachments_are_sent_by_nginx_only_after_the_permission_check(
    nginx, make_customer, make_org
):
    from tickets.services.tickets import ticket_open

    owner = make_customer()
    ticket = ticket_open(
        actor=owner,
        organisation=owner.organisation,
        requester=owner,
        subject="Photo of the seam",
        body="See the photo.",
        attachments=[SimpleUploadedFile("焊缝.png", PNG)],
    )
    attachment = ticket.attachments.get()
    assert (nginx["media"] / attachment.file.name).exists()

    def cookie(person) -> str:
        client = sign_in(Client(), person)
        name = django_settings.SESSION_COOKIE_NAME
        return f"{name}={client.cookies[name].value}"

    url = f"{nginx['base']}/tickets/attachments/{attachment.pk}/"
    status, headers, content = fetch(url, headers={"Cookie": cookie(owner)})
    assert status == 200 and content == PNG
    assert headers["Content-Disposition"].startswith("attachment; filename*=utf-8''")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    assert "X-Accel-Redirect" not in headers  # nginx consumed it
    stranger = cookie(make_customer(make_org("Other Co")))
    assert fetch(url, headers={"Cookie": stranger})[0] == 404
    for direct in (f"/protected/{attachment.file.name}", f"/media/{attachment.file.name}"):
        status, _h, content = fetch(nginx["base"] + direct, headers={"Cookie": cookie(owner)})
        assert status == 404 and PNG not in content, direct


def test_the_nginx_access_log_holds_no_query_string(nginx):
    for path in (f"/healthz?q={EMAIL}", f"/status/?search={EMAIL}&token=abc123"):
        assert fetch(nginx["base"] + path)[0] == 200
    deadline = time.monotonic() + 5
    while len(nginx["log"].read_text().splitlines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = nginx["log"].read_text().splitlines()
    assert len(lines) == 2 and '"GET /healthz HTTP/1.1" 200' in lines[0]
    text = "\n".join(lines)
    for secret in (EMAIL, "wang.jianguo", "abc123", "?"):
        assert secret not in text
