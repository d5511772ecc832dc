"""Admin building blocks shared by the apps (no models of its own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Who sees every region is decided in accounts.permissions (sees_all_regions), which puts its
# check here at start-up: core, and audit above it, sit below accounts and cannot import it.
ALL_REGIONS_CHECKS: list[Callable[[Any], bool]] = []


def sees_all_regions(user: Any) -> bool:
    """Return True if the user's view is not limited to regions; without a check, nobody's."""
    return bool(ALL_REGIONS_CHECKS) and all(check(user) for check in ALL_REGIONS_CHECKS)


class ReadOnlyAdminMixin:
    """A screen that only shows rows: they are written by services (or never)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AllRegionsOnlyMixin:
    """A screen whose rows cannot be narrowed to a customer's region (the audit chain, the
    outbox, an assessment spanning many customers): only staff who see every region open it.

    Staff limited to regions are refused whatever permissions they were given (403), so a
    permission granted by mistake cannot show them other regions' customers.
    """

    def has_module_permission(self, request):
        return sees_all_regions(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return sees_all_regions(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return sees_all_regions(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return sees_all_regions(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return sees_all_regions(request.user) and super().has_delete_permission(request, obj)


class LabelledListEditableMixin:
    """Name the inputs of `list_editable` columns.

    Django puts them in table cells under a column heading, which names no input, so a screen
    reader announces "edit text" (axe rule "label", WCAG 1.3.1/4.1.2). Each gets an aria-label
    of its column and row, e.g. "Position: Robotic cells".
    """

    def get_changelist_form(self, request, **kwargs):
        base = super().get_changelist_form(request, **kwargs)

        class Labelled(base):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                row = str(self.instance) if self.instance.pk else ""
                for field in self.fields.values():
                    name = f"{field.label}: {row}" if row else str(field.label)
                    field.widget.attrs.setdefault("aria-label", name)

        Labelled.__name__ = base.__name__
        return Labelled
