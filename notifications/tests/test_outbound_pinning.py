"""Calls to customer-supplied URLs (webhooks, web push) go to the address that was checked:
the host is resolved once, so a DNS server that answers "public" to the check and "loopback"
to a second lookup (DNS rebinding) cannot point the desk at its own network; TLS still names
and verifies the host; redirects are never followed.

A fake resolver stands in for DNS (socket.getaddrinfo for the test's host name only); no
connection ever leaves loopback: a connection to a public address is recorded and refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from py_vapid import Vapid

from core import net
from notifications import webpush
from notifications.webhooks import WebhookError, deliver

HOST = "hooks.customer.example"
PUBLIC = "93.184.216.34"  # a public address; never actually connected to


class Recorder(BaseHTTPRequestHandler):
    """Records requests; answers 200, or a redirect on /moved."""

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.received.append(("POST", self.path, dict(self.headers)))
        if self.path.startswith("/moved"):
            self.send_response(int(self.path.rsplit("-", 1)[-1]))
            self.send_header("Location", self.server.redirect_to)
        else:
            self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.server.received.append(("GET", self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(address: str, port: int = 0, tls: ssl.SSLContext | None = None) -> HTTPServer:
    server = HTTPServer((address, port), Recorder)
    server.received = []
    server.redirect_to = ""
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def servers():
    started: list[HTTPServer] = []

    def start(*args, **kwargs) -> HTTPServer:
        server = serve(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """Answer HOST with `answers[0]` on the first lookup and `answers[1]` on every later one."""
    real = socket.getaddrinfo
    state = {"answers": [], "lookups": 0}

    def fake(host, port, *args, **kwargs):
        if host != HOST:
            return real(host, port, *args, **kwargs)
        state["lookups"] += 1
        address = state["answers"][min(state["lookups"], len(state["answers"])) - 1]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return state


@pytest.fixture
def no_traffic_off_loopback(monkeypatch):
    """Record connections to non-loopback addresses and refuse them, so nothing leaves here."""
    real = socket.create_connection
    attempts: list[tuple[str, int]] = []

    def guarded(address, *args, **kwargs):
        host, port = address[0], address[1]
        try:
            is_loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            is_loopback = True  # a name: resolved by the (fake) resolver to loopback
        if not is_loopback:
            attempts.append((host, port))
            raise ConnectionRefusedError(f"test: no connection to {host}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return attempts


def b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


@pytest.fixture
def push_keys(settings):
    vapid = Vapid()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    settings.WEBPUSH_VAPID_PRIVATE_KEY = b64(raw)
    browser = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = browser.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return {"p256dh": b64(point), "auth": b64(os.urandom(16))}


def call_webhook(url: str, _keys) -> None:
    deliver(url=url, body="{}", key="k-1")


def call_push(url: str, keys) -> None:
    webpush.send(endpoint=url, p256dh=keys["p256dh"], auth=keys["auth"], payload={"t": 1})


SENDERS = [
    pytest.param(call_webhook, WebhookError, id="webhook"),
    pytest.param(call_push, webpush.PushError, id="web-push"),
]


@pytest.mark.parametrize(("send", "error"), SENDERS)
def test_a_second_lookup_answering_loopback_is_never_made(
    send, error, servers, rebinding_dns, no_traffic_off_loopback, push_keys, settings
):
    """The check sees a public address; the delivery must go there, not to loopback."""
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.WEBHOOK_ALLOW_HTTP = True  # the loopback receiver speaks plain http
    inside = servers("127.0.0.1")
    rebinding_dns["answers"] = [PUBLIC, "127.0.0.1"]
    with pytest.raises(error, match="unreachable"):
        send(f"http://{HOST}:{inside.server_port}/hook", push_keys)
    assert no_traffic_off_loopback == [(PUBLIC, inside.server_port)]  # the checked address
    assert inside.received == []  # the rebound address got nothing
    assert rebinding_dns["lookups"] == 1


def _two_loopback_servers(servers):
    """A server on 127.0.0.2 and one on 127.0.0.1, on the same port."""
    for _ in range(20):
        checked = servers("127.0.0.2")
        try:
            rebound = servers("127.0.0.1", checked.server_port)
        except OSError:
            continue
        return checked, rebound
    pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")


@pytest.mark.parametrize(("send", "error"), SENDERS)
def test_with_private_addresses_allowed_the_connection_still_goes_to_the_first_answer(
    send, error, servers, rebinding_dns, push_keys, settings
):
    """WEBHOOK_ALLOW_PRIVATE skips the address check (tests, closed installations) but not
    the pinning: two loopback receivers on one port, the first lookup names 127.0.0.2."""
    settings.WEBHOOK_ALLOW_PRIVATE = settings.WEBHOOK_ALLOW_HTTP = True
    checked, rebound = _two_loopback_servers(servers)
    rebinding_dns["answers"] = ["127.0.0.2", "127.0.0.1"]
    send(f"http://{HOST}:{checked.server_port}/hook?x=1", push_keys)
    assert [(m, p) for m, p, _h in checked.received] == [("POST", "/hook?x=1")]
    assert checked.received[0][2]["Host"] == f"{HOST}:{checked.server_port}"
    assert rebound.received == []


@pytest.mark.parametrize(("send", "error"), SENDERS)
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirects_are_refused_not_followed(
    send, error, code, servers, rebinding_dns, push_keys, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE = settings.WEBHOOK_ALLOW_HTTP = True
    first = servers("127.0.0.1")
    elsewhere = servers("127.0.0.1")
    first.redirect_to = f"http://127.0.0.1:{elsewhere.server_port}/internal"
    rebinding_dns["answers"] = ["127.0.0.1"]
    with pytest.raises(error, match=str(code)):
        send(f"http://{HOST}:{first.server_port}/moved-{code}", push_keys)
    assert len(first.received) == 1
    assert elsewhere.received == []


def _certificate(tmp_path, name: str) -> tuple[ssl.SSLContext, str]:
    """A server context for `name`, signed by a throwaway CA; return it and the CA file."""
    now = dt.datetime.now(dt.UTC)

    def build(subject, issuer, public_key, signer, *, ca: bool, san: str | None = None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("Test CA", "Test CA", ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build(name, "Test CA", key.public_key(), ca_key, ca=False, san=name)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "server.pem").write_bytes(
        cert.public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "server.pem")
    return server, str(tmp_path / "ca.pem")


@pytest.mark.parametrize(("cert_name", "delivered"), [(HOST, True), ("other.example", False)])
def test_https_to_the_pinned_address_still_names_and_verifies_the_host(
    cert_name, delivered, servers, rebinding_dns, tmp_path, monkeypatch, settings
):
    """Connecting to an address instead of the name must not weaken TLS: the server gets the
    host name as SNI and in Host, and a certificate for another name is refused."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    server_tls, ca_file = _certificate(tmp_path, cert_name)
    names: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: names.append(name)
    monkeypatch.setattr(net, "tls_context", lambda: ssl.create_default_context(cafile=ca_file))
    receiver = servers("127.0.0.1", tls=server_tls)
    rebinding_dns["answers"] = ["127.0.0.1"]
    url = f"https://{HOST}:{receiver.server_port}/hook"
    if delivered:
        deliver(url=url, body="{}", key="k-2")
        (_method, _path, headers) = receiver.received[0]
        assert headers["Host"] == f"{HOST}:{receiver.server_port}"
    else:
        with pytest.raises(WebhookError, match="unreachable"):
            deliver(url=url, body="{}", key="k-2")
        assert receiver.received == []
    assert names and names[0] == HOST
