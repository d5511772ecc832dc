"""Saved personal views of the ticket list: create, rename, delete (each audited).

A view is the list's query string under a name. Only the parameters the list knows are kept
(its filters and the sort `o`; the caller passes the filters' names), in a canonical order,
so a view's link is exactly what the list would produce. A search term is refused, sealed or
not: the search box never puts a typed term in a link (core.sealed_search), a seal opens only
in the session that made it (a saved one would be dead by tomorrow), and a stored term would
keep what may be personal data (an e-mail, a name) in clear beside the agent's settings.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import ApplicationError
from tickets.models import SavedView
from tickets.models.views import SAVED_VIEW_NAME_MAX, SAVED_VIEW_QUERY_MAX, SAVED_VIEWS_MAX

# A named sort of the list (tickets.selectors.LIST_SORTS) or Django's column numbers ("2.-5").
_ORDER = re.compile(r"^(urgency|newest|priority|updated|-?\d{1,2}(\.-?\d{1,2}){0,5})$")
_VALUE_MAX = 100


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(
        _("This view cannot be saved."), fields={"query": [message]}, code="invalid"
    )


def clean_query(query: str, *, allowed: Collection[str]) -> str:
    """Return the canonical query string of a view, or raise ApplicationError (a 400)."""
    query = (query or "").lstrip("?")
    if len(query) > SAVED_VIEW_QUERY_MAX:
        raise _invalid(_("These filters are too long to save."))
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _invalid(_("These filters are not a list's filters.")) from None
    seen: dict[str, str] = {}
    for name, value in pairs:
        if name == SEARCH_VAR:
            raise _invalid(
                _("A saved view keeps filters and the sort, not a search: clear the search first.")
            )
        if name not in allowed and name != ORDER_VAR:
            raise _invalid(_("The list has no filter “%(name)s”.") % {"name": name[:40]})
        if name in seen:
            raise _invalid(_("The filter “%(name)s” is given twice.") % {"name": name})
        if len(value) > _VALUE_MAX or not value.isprintable():
            raise _invalid(_("The value of “%(name)s” is not valid.") % {"name": name})
        if name == ORDER_VAR and not _ORDER.match(value):
            raise _invalid(_("This sort is not one of the list's."))
        seen[name] = value
    return urlencode(sorted(seen.items()))


def _clean_name(name: str, *, owner: Any, exclude: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ApplicationError(
            _("Give the view a name."), fields={"name": [_("This field is required.")]}
        )
    if len(name) > SAVED_VIEW_NAME_MAX:
        raise ApplicationError(
            _("The name is too long."),
            fields={
                "name": [
                    _("At most %(n)d characters (this one has %(len)d).")
                    % {"n": SAVED_VIEW_NAME_MAX, "len": len(name)}
                ]
            },
        )
    if not name.isprintable():
        raise ApplicationError(
            _("The name is not valid."), fields={"name": [_("Use letters, digits and spaces.")]}
        )
    taken = SavedView.objects.filter(owner=owner, name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ApplicationError(
            _("You already have a view of that name."),
            fields={"name": [_("Choose another name.")]},
        )
    return name


@transaction.atomic
def saved_view_create(*, owner: Any, name: str, query: str, allowed: Collection[str]) -> SavedView:
    """Save the list's filters and sort under a name, for this person alone."""
    query = clean_query(query, allowed=allowed)
    # Counted under the owner's row lock: two saves at once cannot pass the limit together.
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    if SavedView.objects.filter(owner=owner).count() >= SAVED_VIEWS_MAX:
        raise ApplicationError(
            _("You have %(n)d saved views, the most there can be: delete one first.")
            % {"n": SAVED_VIEWS_MAX},
            code="limit",
        )
    name = _clean_name(name, owner=owner)
    view = SavedView.objects.create(owner=owner, name=name, query=query)
    audit_record(
        action="ticket_view.saved",
        actor=owner,
        target=view,
        changes={"name": name, "query": query},
    )
    return view


@transaction.atomic
def saved_view_rename(*, view: SavedView, actor: Any, name: str) -> SavedView:
    """Give one of the actor's own views a new name."""
    view = SavedView.objects.select_for_update().get(pk=view.pk, owner=actor)
    name = _clean_name(name, owner=actor, exclude=view.pk)
    if name == view.name:
        return view
    view.name = name
    view.save(update_fields=["name"])
    audit_record(action="ticket_view.renamed", actor=actor, target=view, changes={"name": name})
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, actor: Any) -> None:
    """Delete one of the actor's own views."""
    deleted, _rows = SavedView.objects.filter(pk=view.pk, owner=actor).delete()
    if deleted:
        audit_record(
            action="ticket_view.deleted",
            actor=actor,
            target_type="tickets.savedview",
            target_id=view.pk,
        )
