"""Who may see what: the one place that scopes querysets and objects to a user.

Customers see their own organisation only. Superusers, supervisors and compliance officers
see every region; any other staff member (an agent) sees only the organisations of the regions
given to them, and nothing when none are given (fail closed: a forgotten region hides data, it
never shows all of it). Anyone else sees nothing. An object outside the user's scope answers
404, never 403, and the refusal is audited. Every 403 (a read-only key writing, a customer on
a staff-only act, a missing second factor, a failed CSRF check, the admin's permission checks)
is audited the same way by `access_denied_record`, through `refusal_noted`, which
accounts.middleware.RefusalAuditMiddleware calls (anonymous refusals at a bounded rate).
"""

from __future__ import annotations

import json
import logging
from typing import Any, NoReturn

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Model, Q, QuerySet
from django.http import Http404

from accounts import roles
from core.middleware import is_secret_kwarg

log = logging.getLogger(__name__)


def is_customer(user: Any) -> bool:
    return bool(user and user.is_authenticated and not user.is_staff and user.organisation_id)


def is_staff_member(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_staff and user.is_active)


def role_names(user: Any) -> set[str]:
    """Return the user's role group names (cached on the user object)."""
    if not (user and user.is_authenticated):
        return set()
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=roles.ROLES).values_list("name", flat=True))
        user._role_names = cached
    return cached


def has_role(user: Any, *wanted: str) -> bool:
    if not is_staff_member(user):
        return False
    return user.is_superuser or bool(role_names(user) & set(wanted))


def staff_region_ids(user: Any) -> list[int] | None:
    """Return the region ids a staff member is limited to, or None for all regions.

    An agent without regions gets an empty list, so their scope is empty, not everything.
    """
    if user.is_superuser or has_role(user, roles.SUPERVISOR, roles.COMPLIANCE):
        return None
    cached = getattr(user, "_region_ids", None)
    if cached is None:
        cached = list(user.regions.values_list("pk", flat=True))
        user._region_ids = cached
    return cached


def sees_all_regions(user: Any) -> bool:
    """Return True for active staff whose view is not limited to regions (see above)."""
    return is_staff_member(user) and staff_region_ids(user) is None


def sees_region(user: Any, region_id: int | None) -> bool:
    """Return True if the staff member may see customers of the region (None: no region)."""
    regions = staff_region_ids(user)
    return regions is None or (region_id is not None and region_id in regions)


def staff_seeing_region(region_id: int | None) -> QuerySet:
    """Return the pks of active staff who may see customers of the region, as a subquery.

    Assignment filters its candidates with it, so nobody is given a ticket or chat they would
    get a 404 for: the same rule as `staff_region_ids`, written as a query.
    """
    from django.contrib.auth import get_user_model

    everywhere = Q(is_superuser=True) | Q(groups__name__in=(roles.SUPERVISOR, roles.COMPLIANCE))
    regional = Q(regions=region_id) if region_id is not None else Q(pk__in=[])
    return (
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .filter(everywhere | regional)
        .values("pk")
    )


def scope_by_organisation(
    user: Any, queryset: QuerySet, *, org_field: str = "organisation"
) -> QuerySet:
    """Return the part of queryset whose organisation the user may see."""
    # org_field="pk" scopes a queryset of organisations themselves.
    own_lookup = org_field
    region_lookup = "region__in" if org_field == "pk" else f"{org_field}__region__in"
    if is_customer(user):
        return queryset.filter(**{own_lookup: user.organisation_id})
    if is_staff_member(user):
        regions = staff_region_ids(user)
        if regions is None:
            return queryset
        return queryset.filter(**{region_lookup: regions})
    return queryset.none()


def get_scoped_or_404(
    user: Any, queryset: QuerySet, *, org_field: str = "organisation", **lookup: Any
) -> Model:
    """Return the object if the user may see it; else raise Http404 and audit the refusal."""
    obj = scope_by_organisation(user, queryset, org_field=org_field).filter(**lookup).first()
    if obj is not None:
        return obj
    refuse(user, queryset, **lookup)


def refuse(user: Any, queryset: QuerySet, **lookup: Any) -> NoReturn:
    """Raise Http404 for an object the user may not see; audit the refusal if it exists.

    A missing object and a foreign one answer alike, so the answer tells nothing.
    """
    foreign = queryset.filter(**lookup).first()
    if foreign is not None:
        from audit.services import audit_record

        audit_record(action="access.denied", actor=user, target=foreign, outcome="denied")
    raise Http404


def _refusal_code(response: Any) -> str:
    """The error code of a JSON refusal ("permission_denied", "otp_required"...), or ""."""
    data = getattr(response, "data", None)
    if data is None and response.get("Content-Type", "").startswith("application/json"):
        try:
            data = json.loads(response.content[:4096])
        except (ValueError, UnicodeDecodeError):
            data = None
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else ""
    return str(code)[:64] if code else ""


def refusal_noted(*, request: Any, response: Any) -> None:
    """Count a 403 and audit it: always when a person or an API key was refused, and for
    anonymous callers at most REFUSAL_AUDIT_ANONYMOUS_PER_MINUTE per client network a minute.

    Anyone can provoke anonymous 403s (a failed CSRF check, a bad signature on a machine
    webhook) as fast as they can send; one event each would let them append to the audit
    chain without end. Past the rate, and while the cache that counts is down, an anonymous
    refusal is only counted (welddesk_refusals_total). Never fails the answer.
    """
    from accounts.lockout import client_network
    from core import metrics, net
    from core.throttle import over_limit

    try:
        user = getattr(request, "user", None)
        known = bool(user is not None and user.is_authenticated)
    except DatabaseError:  # the session's user cannot be loaded: nobody is known
        known = False
    if known:
        audited = True
    else:
        network = client_network(net.client_ip(request.META))
        audited = not over_limit(
            f"refusals:anonymous:{network}",
            settings.REFUSAL_AUDIT_ANONYMOUS_PER_MINUTE,
            seconds=60,
            on_outage=True,
        )
    metrics.REFUSALS.labels(
        caller="known" if known else "anonymous", audited=str(audited).lower()
    ).inc()
    if audited:
        access_denied_record(request=request, response=response)


def access_denied_record(*, request: Any, response: Any) -> None:
    """Audit a 403 like a 404-by-policy: the actor, the URL (its name as the target, the route
    and the ids it named as data) and the time.

    Never fails the answer: with the database gone the refusal is logged instead.
    """
    from audit.services import audit_record

    match = getattr(request, "resolver_match", None)
    ids = {
        name: str(value)[:100]
        for name, value in sorted((match.kwargs if match else {}).items())
        if not is_secret_kwarg(name)
    }
    route = "/" + (match.route if match else "")
    try:
        audit_record(
            action="access.denied",
            actor=getattr(request, "user", None),
            target_type="url",
            target_id=((match.view_name if match else "") or route)[:64],
            data={
                "route": route[:200],
                "method": request.method,
                "status": response.status_code,
                "code": _refusal_code(response),
                "ids": ids,
            },
            outcome="denied",
        )
    except DatabaseError:
        log.warning("access.denied not audited (database gone): %s %s", request.method, route)


def scoped_among(
    user: Any, queryset: QuerySet, *, field: str, values: Any, org_field: str = "organisation"
) -> list[Model]:
    """Return the objects whose `field` is one of `values` that the user may see.

    For lookups by numbers a person typed (the chat bot's "where is WD-2026-000123?"): the
    ones outside the user's scope are left out exactly like missing ones, and each refusal is
    audited as `refuse` does. Two queries at most, whatever the tables hold.
    """
    values = list(values)
    if not values:
        return []
    lookup = {f"{field}__in": values}
    found = list(scope_by_organisation(user, queryset, org_field=org_field).filter(**lookup))
    seen = {getattr(obj, field) for obj in found}
    missing = [v for v in values if v not in seen]
    if missing:
        from audit.services import audit_record

        foreign = queryset.filter(**{f"{field}__in": missing}).exclude(
            pk__in=[obj.pk for obj in found]
        )
        for obj in foreign[: len(missing)]:
            audit_record(action="access.denied", actor=user, target=obj, outcome="denied")
    return found
