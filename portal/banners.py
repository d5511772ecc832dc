"""The portal's banner slot: higher apps (the outage issue's status app) register providers.

A provider is func(user) -> list of {"level": "outage"|"degraded"|"info", "title": str,
"body": str, "link": str | ""}; the portal shows them at the top of every page, escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_providers: list[Callable[[Any], list[dict]]] = []


def register(provider: Callable[[Any], list[dict]]) -> Callable[[Any], list[dict]]:
    if provider not in _providers:
        _providers.append(provider)
    return provider


def unregister(provider: Callable[[Any], list[dict]]) -> None:
    if provider in _providers:
        _providers.remove(provider)


def active(user: Any) -> list[dict]:
    """Every provider's banners; a failing provider is logged and skipped, never a 500."""
    shown: list[dict] = []
    for provider in list(_providers):
        try:
            shown += provider(user) or []
        except Exception:
            log.exception("banner provider %s failed", getattr(provider, "__name__", provider))
    return shown
