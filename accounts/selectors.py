"""Reads of the accounts app, always scoped to the asking user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts import permissions
from accounts.models import Organisation, User
from core import crypto


def organisation_list(*, user: Any) -> QuerySet[Organisation]:
    return permissions.scope_by_organisation(
        user, Organisation.objects.select_related("region").order_by("name", "pk"), org_field="pk"
    )


def organisation_get(*, user: Any, pk: int) -> Organisation:
    return permissions.get_scoped_or_404(
        user, Organisation.objects.select_related("region"), org_field="pk", pk=pk
    )


def user_by_email(email: str) -> User | None:
    """Return the user with this email (normalised, through the blind index), or None."""
    return User.objects.filter(email_bidx=crypto.blind_index("email", email)).first()
