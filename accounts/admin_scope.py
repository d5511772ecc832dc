"""Region scoping of the admin screens that hold customer data.

accounts.permissions.scope_by_organisation decides who sees which organisation's rows; this
module applies that one rule to a ModelAdmin everywhere the admin reads rows: the list (and
with it search, filters, date drill-down, pagination, actions and "select all"), the change,
history and delete pages (an object of another region answers 404, exactly like a missing one,
and the refusal is audited), the autocomplete of any field pointing at the model, and the
choices of foreign keys to other scoped models in its forms.

Every registered ModelAdmin is either scoped here, open only to staff who see all regions
(core.admin.AllRegionsOnlyMixin), or listed as holding no customer data in
servicedesk/tests/test_admin_regions.py, which walks them all as a region-limited agent.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404

from accounts.permissions import refuse, scope_by_organisation


class RegionScopedAdminMixin:
    """A ModelAdmin whose rows belong to a customer organisation.

    `region_scope` is the path from the model to its organisation, as scope_by_organisation
    takes it: "organisation", "ticket__organisation", "user__organisation", or "pk" for the
    organisations themselves.
    """

    region_scope = "organisation"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return scope_by_organisation(request.user, queryset, org_field=self.region_scope)

    def get_object(self, request, object_id, from_field=None):
        """Return the object if this screen shows it to the user; else 404, and a refusal of
        an existing object is audited."""
        found = super().get_object(request, object_id, from_field)
        if found is not None:
            return found
        field = (
            self.model._meta.pk if from_field is None else self.model._meta.get_field(from_field)
        )
        try:
            value = field.to_python(object_id)
        except (ValidationError, ValueError, TypeError):
            raise Http404 from None
        refuse(request.user, self.model._default_manager.all(), **{field.name: value})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scoped = scoped_choices(self.admin_site, db_field, request)
        if scoped is not None and "queryset" not in kwargs:
            kwargs["queryset"] = scoped
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        scoped = scoped_choices(self.admin_site, db_field, request)
        if scoped is not None and "queryset" not in kwargs:
            kwargs["queryset"] = scoped
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def scoped_choices(admin_site: Any, db_field: Any, request: Any):
    """Return the scoped rows a relation may point at, or None if its model is not scoped."""
    target = admin_site._registry.get(db_field.remote_field.model)
    if isinstance(target, RegionScopedAdminMixin):
        return target.get_queryset(request)
    return None


def is_autocomplete(request: Any) -> bool:
    """True for the admin's autocomplete endpoint, whose search term travels in the URL."""
    match = getattr(request, "resolver_match", None)
    return match is not None and match.url_name == "autocomplete"
