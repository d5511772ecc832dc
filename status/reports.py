"""Sections that higher apps add to a public incident report.

Status knows nothing of compensation, yet the report states the compensation offered in
aggregate: compensation registers a function here (in its AppConfig.ready) that returns the
lines to show for an incident. Each line is (label, value), already in the active language,
with no personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Section = Callable[[Any], list[tuple[str, str]]]
_sections: list[tuple[str, Section]] = []


def register(title: str, section: Section) -> None:
    """Add a section (a lazy translated title and a function of the incident) once."""
    if all(fn is not section for _t, fn in _sections):
        _sections.append((title, section))


def sections_for(incident: Any) -> list[dict[str, Any]]:
    """The registered sections with lines for this incident, in registration order."""
    found = []
    for title, section in _sections:
        lines = section(incident)
        if lines:
            found.append({"title": str(title), "lines": lines})
    return found
