"""Blocks of the agents' home page (the admin index for staff who work tickets).

The home shows tickets, chats, incidents and satisfaction, which belong to apps of different
layers; servicedesk (the top) renders the page but must not know how each is read. So each app
registers a block function here in its AppConfig.ready(), like tickets.panels: the function
reads through its own app's selectors, scoped to the asking user, and returns its Blocks, none
of those that are not for this person (e.g. the per-agent load is for supervisors only).

A block costs a fixed number of queries whatever it holds (a count and a few rows), so the home
page's query count does not grow with the desk's workload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One line of a block: plain text the template escapes, an optional link, an optional
    note (e.g. a count or an organisation), and an optional badge of trusted HTML built with
    format_html by the owning app (an SLA countdown, a priority)."""

    text: str
    url: str = ""
    note: str = ""
    badge: str = ""


@dataclass
class Block:
    """A block: its title, a count (None: the block shows no count), a few rows, the link to
    the full filtered list and the words shown when there is nothing."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    count: int | None = None
    # The count is a floor: there are more than `count` (shown "100+"); a block counts up to
    # a cap so that its cost does not grow with the workload.
    count_more: bool = False
    link: str = ""
    link_text: str = ""
    empty: str = ""
    # A headline figure instead of rows (e.g. "4.6 / 5"), with a line of detail.
    figure: str = ""
    detail: str = ""
    order: int = 100


BlockSource = Callable[[Any], list[Block]]
_sources: list[BlockSource] = []


def register(source: BlockSource) -> None:
    if source not in _sources:
        _sources.append(source)


def blocks_for(request: Any) -> list[Block]:
    """The blocks for the request's user, in their order."""
    found = [block for source in _sources for block in source(request)]
    return sorted(found, key=lambda block: block.order)
