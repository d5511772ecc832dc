"""Client addresses behind trusted proxies, and network allow-lists."""

from __future__ import annotations

import ipaddress
import logging
import threading
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


def public_http_url(url: str) -> str:
    """Why the desk may not call this URL, or "" when it may: http(s) only, and every address
    of the host public (no loopback, private, link-local or reserved networks), unless
    settings.WEBHOOK_ALLOW_PRIVATE (tests, closed installations)."""
    import socket
    from urllib.parse import urlsplit

    from django.utils.translation import gettext as _

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return _("not a valid URL")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return _("only http and https URLs")
    if parts.scheme == "http" and not getattr(settings, "WEBHOOK_ALLOW_HTTP", False):
        return _("only https URLs")
    if parts.username or parts.password:
        return _("no user names or passwords in the URL")
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False):
        return ""
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return _("the host name does not resolve")
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if not address.is_global:
            return _("the host is not on the public internet")
    return ""
