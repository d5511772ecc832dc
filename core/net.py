"""Client addresses behind trusted proxies, and network allow-lists."""

from __future__ import annotations

import ipaddress
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
