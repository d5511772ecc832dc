"""Reads of the accounts app, always scoped to the asking user."""

from __future__ import annotations

from collections.abc import Iterable
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


def users_by_id(ids: Iterable[int]) -> dict[int, User]:
    """Return {id: user} for the given ids (one query); unknown ids are left out."""
    return User.objects.in_bulk([pk for pk in set(ids) if pk])


def staff_active_by_name() -> list[User]:
    """Return the active staff members, sorted by name (names are encrypted: sorted here)."""
    staff = list(User.objects.filter(is_staff=True, is_active=True))
    return sorted(staff, key=lambda user: ((user.full_name or user.email).casefold(), user.pk))
