"""Names for the references the audit chain and its neighbours hold ("user:10").

The chain holds references only, never personal data (an erasure must not touch it, and it
must still verify). A screen that shows references to a person resolves them here, as it is
drawn, for that viewer: a higher app (accounts) registers a labeller that knows its people
and decides what this viewer may see; whatever no labeller names keeps a neutral label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.utils.translation import gettext as _

# (viewer, references) -> {reference: "Li Na (agent)"}, for the references this viewer may
# see named; one or two queries whatever the number of references.
LABELLERS: list[Callable[[Any, set[str]], dict[str, str]]] = []


def neutral(ref: str) -> str:
    """The label of a reference nobody named for this viewer: what it is, never who."""
    kind, _sep, ident = ref.partition(":")
    if kind == "user" and ident.isdigit():
        return _("person #%(id)s") % {"id": ident}
    if kind == "system":
        return _("the desk (%(job)s)") % {"job": ident} if ident else _("the desk")
    return ref


def labels(viewer: Any, refs: Iterable[str]) -> dict[str, str]:
    """Return a label for every reference: a name where the viewer may see it, else neutral."""
    wanted = {ref for ref in refs if ref}
    named: dict[str, str] = {}
    for labeller in LABELLERS:
        named.update(labeller(viewer, wanted - named.keys()))
    return {ref: named.get(ref) or neutral(ref) for ref in wanted}
