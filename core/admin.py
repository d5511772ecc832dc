"""Admin building blocks shared by the apps (no models of its own)."""

from __future__ import annotations


class ReadOnlyAdminMixin:
    """A screen that only shows rows: they are written by services (or never)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
