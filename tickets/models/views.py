"""Saved personal views of the ticket list: a name for a set of filters and a sort."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# A person's views are links above the list: a handful, with short names.
SAVED_VIEWS_MAX = 20
SAVED_VIEW_NAME_MAX = 40
SAVED_VIEW_QUERY_MAX = 500


class SavedView(models.Model):
    """One agent's named list: the list's query string (filters and `o`, never a search term).

    Written by tickets.services.views (validated, audited), read by tickets.selectors; only
    its owner ever sees it (another person's id is a 404).
    """

    # A name is free text an agent typed (it may name a customer): kept out of the audit chain.
    PERSONAL_FIELDS = ("name",)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ticket_views"
    )
    name = models.CharField(_("name"), max_length=SAVED_VIEW_NAME_MAX)
    # Canonical: known parameters only, sorted, URL-encoded (services.views.clean_query).
    query = models.CharField(_("filters and sort"), max_length=SAVED_VIEW_QUERY_MAX, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_name_unique")
        ]

    def __str__(self) -> str:
        return self.name
