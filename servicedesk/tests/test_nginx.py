"""The nginx configuration in deploy/nginx, run in a real nginx on loopback in front of the
desk: bodies over the limit get 413 from nginx, a file over the app's limit a 413 from the app;
attachments are sent by nginx only after the app's permission check (X-Accel-Redirect) and are
unreachable directly; nginx's access log holds no query string; the desk sees the client's
address, not nginx's nor a forged X-Forwarded-For; the shipped upstream passes a failed
idempotent request to the other server and never a POST."""

from __future__ import annotations

import http.client
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from servicedesk.tests.nginx_server import (
    DEPLOY,
    need_nginx,
    nginx_config,
    running_nginx,
    shipped_upstream,
)
from testsupport import free_port, sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EMAIL = "wang.jianguo@hengrui-weld.example"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def nginx(live_server, tmp_path, settings):
    binary = need_nginx()
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    settings.ATTACHMENT_X_ACCEL_PREFIX = "/protected"
    port = free_port()
    config = nginx_config(tmp_path, port, media, upstream=str(urlsplit(live_server.url).port))
    with running_nginx(binary, config, port):
        yield {"base": f"http://127.0.0.1:{port}", "log": tmp_path / "access.log", "media": media}


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


def _get_from(source: str, url: str, headers: dict) -> int:
    """GET url from the loopback address `source` (a client other than nginx's 127.0.0.1)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=30, source_address=(source, 0)
    )
    try:
        conn.request("GET", parts.path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_desk_sees_the_clients_address_through_nginx_not_nginxs_or_a_forged_one(
    nginx, settings
):
    """nginx (127.0.0.1, named in TRUSTED_PROXIES) passes the client's own address in
    X-Forwarded-For, replacing what the client sent: /metrics, open to 127.0.0.5 only, answers
    a client at 127.0.0.5 and nobody else, whatever X-Forwarded-For they claim."""
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.5/32"]
    metrics = f"{nginx['base']}/metrics"

    assert _get_from("127.0.0.5", metrics, {"X-Forwarded-For": "203.0.113.9"}) == 200
    # Another client claiming to be the allowed one, or nginx itself, is refused.
    for claimed in ("127.0.0.5", "127.0.0.1", "127.0.0.5, 127.0.0.5"):
        assert _get_from("127.0.0.6", metrics, {"X-Forwarded-For": claimed}) == 404, claimed
    # The desk reads the client, not the proxy: nginx's own address is not enough.
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert _get_from("127.0.0.5", metrics, {}) == 404


class _Upstream(ThreadingHTTPServer):
    """A stand-in for a Daphne behind the shipped upstream: answers with its name, or, for a
    request whose X-Die-On names it, closes the connection without an answer (a process
    killed while the request was in flight). It records every request it saw."""

    daemon_threads = True

    def __init__(self, name: str):
        self.name = name
        self.seen: list[tuple[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.server.seen.append((self.command, self.headers["X-Test"]))
                if self.headers["X-Die-On"] == self.server.name:
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(self.server.name)))
                self.end_headers()
                self.wfile.write(self.server.name.encode())

            do_GET = do_POST = _handle

        super().__init__(("127.0.0.1", 0), Handler)


def test_the_shipped_upstream_retries_idempotent_requests_only(tmp_path):
    """The shipped upstream and `proxy_next_upstream error timeout http_502 http_503`: a GET
    whose server dies before answering is passed to the other server (the client sees a 200);
    a POST is not (nginx's default leaves out non_idempotent): the client gets 502 and retries
    it itself with the same Idempotency-Key. test_failover.py relies on both."""
    locations = (DEPLOY / "welddesk-locations.conf").read_text()
    next_upstream = re.findall(r"^\s*proxy_next_upstream (.*);$", locations, re.M)
    assert next_upstream == ["error timeout http_502 http_503"]  # never non_idempotent
    binary = need_nginx()
    a, b = _Upstream("a"), _Upstream("b")
    for server in (a, b):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    port = free_port()
    upstream = shipped_upstream(
        {8001: a.server_address[1], 8002: b.server_address[1], 8009: free_port()}
    )
    config = nginx_config(tmp_path, port, tmp_path, upstream=upstream)
    try:
        with running_nginx(binary, config, port):
            answers = {}
            for method in ("POST", "GET"):  # until server a had one of each (round robin)
                for n in range(4):
                    test = f"{method}-{n}"
                    data = b"{}" if method == "POST" else None
                    status, _h, body = fetch(
                        f"http://127.0.0.1:{port}/api/v1/tickets/",
                        data=data,
                        headers={"X-Die-On": "a", "X-Test": test},
                    )
                    answers[test] = (status, body)
                    if (method, test) in a.seen:
                        break
                assert (method, test) in a.seen, f"server a never got a {method}"
                if method == "POST":  # not retried: the client sees the failure
                    assert answers[test][0] == 502 and ("POST", test) not in b.seen
                else:  # retried on b: the client never sees a failure
                    assert answers[test] == (200, b"b") and ("GET", test) in b.seen
            assert all(s == 200 for t, (s, _b) in answers.items() if t.startswith("GET"))
    finally:
        for server in (a, b):
            server.shutdown()
            server.server_close()
