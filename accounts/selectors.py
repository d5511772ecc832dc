"""Reads of the accounts app, always scoped to the asking user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts import permissions
from accounts.models import Organisation


def organisation_list(*, user: Any) -> QuerySet[Organisation]:
    return permissions.scope_by_organisation(
        user, Organisation.objects.select_related("region").order_by("name", "pk"), org_field="pk"
    )


def organisation_get(*, user: Any, pk: int) -> Organisation:
    return permissions.get_scoped_or_404(
        user, Organisation.objects.select_related("region"), org_field="pk", pk=pk
    )
