"""Panels that higher apps add to the agents' ticket page.

Tickets knows nothing of logistics, yet the ticket page lists the ticket's shipments: logistics
registers a function here (in its AppConfig.ready) that returns a panel for a ticket, or None.
A panel is a dict: "title", "rows" (a list of (label, text, url or "") tuples, plain text that
the template escapes) and optional "add_url" and "empty" text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Panel = Callable[[Any, Any], dict[str, Any] | None]
_panels: list[Panel] = []


def register(panel: Panel) -> None:
    if panel not in _panels:
        _panels.append(panel)


def panels_for(ticket: Any, request: Any) -> list[dict[str, Any]]:
    return [found for panel in _panels if (found := panel(ticket, request)) is not None]
