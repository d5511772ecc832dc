"""Client addresses behind trusted proxies, network allow-lists, and calls to customer URLs
(webhooks, web push) that cannot be turned against the desk's own network."""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from functools import cache

from django.conf import settings


@cache
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def in_networks(ip: str | None, spec: list[str] | tuple[str, ...]) -> bool:
    """Return True if ip lies in one of the networks (CIDR strings)."""
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if getattr(addr, "ipv4_mapped", None):
        addr = addr.ipv4_mapped
    return any(addr in net for net in _networks(tuple(spec)))


def client_ip(meta: dict) -> str | None:
    """Return the client's address; X-Forwarded-For counts only from TRUSTED_PROXIES."""
    remote = meta.get("REMOTE_ADDR") or None
    trusted = getattr(settings, "TRUSTED_PROXIES", [])
    if remote and trusted and in_networks(remote, trusted):
        hops = [h.strip() for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if not in_networks(hop, trusted):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return remote
    return remote


logger = logging.getLogger(__name__)
_forwarding_warned = threading.Event()


def warn_untrusted_forwarding(meta: dict) -> bool:
    """Log once per process that X-Forwarded-For came from outside TRUSTED_PROXIES; True if
    this call logged.

    The header is then ignored, so every client behind that proxy looks like the proxy: one
    throttle bucket for all of them, the proxy's address in the audit chain. That is a
    deployment mistake (TRUSTED_PROXIES not set) or a forged header; either way the operator
    should hear of it once, not on every request. Only the sender's address is logged, not the
    header's values (client addresses).
    """
    if _forwarding_warned.is_set() or "HTTP_X_FORWARDED_FOR" not in meta:
        return False
    remote = meta.get("REMOTE_ADDR") or ""
    if in_networks(remote, getattr(settings, "TRUSTED_PROXIES", [])):
        return False
    _forwarding_warned.set()
    logger.warning(
        "X-Forwarded-For arrived from %s, which is not in TRUSTED_PROXIES: the header is "
        "ignored and the sender counts as the client (throttles, audit rows, /metrics). If the "
        "desk runs behind a proxy, set TRUSTED_PROXIES to its network. (Logged once per process.)",
        remote or "an unknown address",
    )
    return True


class OutboundRefused(Exception):
    """The desk may not call this URL (a message for the person who entered it)."""


@dataclass(frozen=True)
class Destination:
    """A customer-supplied URL resolved once: the addresses that were checked, to connect to."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]


def resolve_destination(url: str) -> Destination:
    """Check a URL the desk is asked to call and resolve its host once; raise OutboundRefused.

    http(s) only (http only with WEBHOOK_ALLOW_HTTP), no user names or passwords, and every
    address of the host public (no loopback, private, link-local or reserved networks), unless
    WEBHOOK_ALLOW_PRIVATE (tests, closed installations). The caller connects to these very
    addresses (`post_pinned`): a second lookup could answer differently (DNS rebinding).
    """
    from urllib.parse import urlsplit

    from django.utils.translation import gettext as _

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused(_("not a valid URL")) from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise OutboundRefused(_("only http and https URLs"))
    if parts.scheme == "http" and not getattr(settings, "WEBHOOK_ALLOW_HTTP", False):
        raise OutboundRefused(_("only https URLs"))
    if parts.username or parts.password:
        raise OutboundRefused(_("no user names or passwords in the URL"))
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise OutboundRefused(_("the host name does not resolve")) from None
    addresses: list[str] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if not address.is_global and not getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False):
            raise OutboundRefused(_("the host is not on the public internet"))
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise OutboundRefused(_("the host name does not resolve"))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname, port, target, tuple(addresses))


def public_http_url(url: str) -> str:
    """Why the desk may not call this URL, or "" when it may (see `resolve_destination`)."""
    try:
        resolve_destination(url)
    except OutboundRefused as exc:
        return str(exc)
    return ""


def tls_context() -> ssl.SSLContext:
    """The TLS settings of calls to customer URLs: the system's CAs, hostname checked."""
    return ssl.create_default_context()


def post_pinned(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST to a customer-supplied URL and return the status; redirects are never followed.

    The host is resolved and checked once (`resolve_destination`) and the connection goes to
    the checked addresses, in order: no second lookup can swap in an internal address. TLS
    still names the host (SNI) and verifies its certificate for the host name, and the Host
    header is the host's. A 3xx comes back as its status like any other answer, so a redirect
    cannot lead the desk into its own network. Raises OutboundRefused, or OSError when no
    checked address answers.
    """
    destination = resolve_destination(url)

    def connect(_address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
        last: OSError | None = None
        for address in destination.addresses:
            try:
                return socket.create_connection(
                    (address, destination.port), timeout, source_address
                )
            except OSError as exc:
                last = exc
        raise last or OSError("no address")

    if destination.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            destination.host, destination.port, timeout=timeout, context=tls_context()
        )
    else:
        connection = http.client.HTTPConnection(destination.host, destination.port, timeout=timeout)
    connection._create_connection = connect  # type: ignore[attr-defined]
    try:
        connection.request("POST", destination.target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)  # the answer's body is not needed; read a little to end cleanly
        return response.status
    except http.client.HTTPException as exc:
        raise OSError(f"bad answer ({type(exc).__name__})") from None
    finally:
        connection.close()
