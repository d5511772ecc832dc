"""Reads of the accounts app, always scoped to the asking user."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from accounts import permissions, roles
from accounts.models import Organisation, PlatformIdentity, Region, User
from core import crypto


def organisation_list(*, user: Any) -> QuerySet[Organisation]:
    return permissions.scope_by_organisation(
        user, Organisation.objects.select_related("region").order_by("name", "pk"), org_field="pk"
    )


def organisation_get(*, user: Any, pk: int) -> Organisation:
    return permissions.get_scoped_or_404(
        user, Organisation.objects.select_related("region"), org_field="pk", pk=pk
    )


def regions_visible(*, user: Any) -> list[Region]:
    """The regions a staff member may see, in code order: every region for a supervisor, the
    given ones for an agent (none when none are given), none for anyone else. Filters offer
    only these, so nobody picks a region whose figures they may not read."""
    if not permissions.is_staff_member(user):
        return []
    scope = permissions.staff_region_ids(user)
    regions = Region.objects.order_by("code")
    return list(regions if scope is None else regions.filter(pk__in=scope))


def user_by_email(email: str) -> User | None:
    """Return the user with this email (normalised, through the blind index), or None."""
    return User.objects.filter(email_bidx=crypto.blind_index("email", email)).first()


def actor_ref_for_email(email: str) -> str | None:
    """The audit actor reference of the account with this e-mail address ("user:42")."""
    user = user_by_email(email)
    return f"user:{user.pk}" if user is not None else None


def users_by_id(ids: Iterable[int]) -> dict[int, User]:
    """Return {id: user} for the given ids (one query); unknown ids are left out."""
    return User.objects.in_bulk([pk for pk in set(ids) if pk])


def people_labels(viewer: Any, refs: set[str]) -> dict[str, str]:
    """Name the accounts behind audit references ("user:10" -> "Li Na (agent)") for a viewer
    allowed to see them: active staff with `accounts.view_user`; a staff member limited to
    regions sees customers of those regions named (staff always). Two queries whatever the
    number of references (the accounts, their role groups); no reference is stored."""
    if not (permissions.is_staff_member(viewer) and viewer.has_perm("accounts.view_user")):
        return {}
    ids = {int(ref[5:]) for ref in refs if ref.startswith("user:") and ref[5:].isdigit()}
    if not ids:
        return {}
    people = (
        User.objects.filter(pk__in=ids)
        .select_related("organisation")
        .prefetch_related(Prefetch("groups", queryset=Group.objects.filter(name__in=roles.ROLES)))
    )
    labels = {}
    for person in people:
        if person.is_staff:
            named = [str(roles.ROLE_LABELS[g.name]) for g in person.groups.all()]
            if person.is_superuser:
                named.insert(0, str(_("administrator")))
            role = ", ".join(sorted(named)) or str(_("staff"))
        elif person.organisation is not None and permissions.sees_region(
            viewer, person.organisation.region_id
        ):
            role = _("customer, %(organisation)s") % {"organisation": person.organisation.name}
        else:
            continue  # a customer outside the viewer's regions keeps the neutral label
        labels[f"user:{person.pk}"] = _("%(name)s (%(role)s)") % {
            "name": person.full_name,
            "role": role,
        }
    return labels


def active_staff_ids_with_roles(role_names: Iterable[str]) -> QuerySet:
    """The pks of active staff holding any of these roles, as a subquery: a caller narrows it
    or filters `pk__in` on it, and nothing is read until its own query runs."""
    return User.objects.filter(
        is_staff=True, is_active=True, groups__name__in=list(role_names)
    ).values("pk")


def users_among(ids: QuerySet) -> list[User]:
    """The users whose pks a subquery names, in one query (users_by_id reads a list of ids)."""
    return list(User.objects.filter(pk__in=ids))


def active_customers_among(ids: QuerySet) -> QuerySet[User]:
    """The active customers (not staff) whose pks a subquery names, once each, by pk."""
    return User.objects.filter(is_active=True, is_staff=False, pk__in=ids).order_by("pk")


def staff_active_by_name() -> list[User]:
    """Return the active staff members, sorted by name (names are encrypted: sorted here)."""
    staff = list(User.objects.filter(is_staff=True, is_active=True))
    return sorted(staff, key=lambda user: ((user.full_name or user.email).casefold(), user.pk))


def supervisors_of_region(region_id: int | None) -> list[User]:
    """Active supervisors who look after the region (their regions name it); when none does,
    every active supervisor, so an urgent notice never goes to nobody."""
    supervisors = User.objects.filter(
        is_staff=True, is_active=True, groups__name=roles.SUPERVISOR
    ).order_by("pk")
    if region_id is not None:
        regional = list(supervisors.filter(regions=region_id).distinct())
        if regional:
            return regional
    return list(supervisors.distinct())


def customer_by_phone_index(phone_bidx: str) -> User | None:
    """The active user whose phone number has this blind index (a caller the desk knows)."""
    if not phone_bidx:
        return None
    return User.objects.filter(phone_bidx=phone_bidx, is_active=True).order_by("pk").first()


def customer_in_region(region_id: int | None) -> User | None:
    """Some active customer of an organisation in the region (to check what they would see)."""
    if region_id is None:
        return None
    return (
        User.objects.filter(is_active=True, is_staff=False, organisation__region_id=region_id)
        .order_by("pk")
        .first()
    )


def region_for_line(code: str) -> Region | None:
    """The region a phone line is named after, else the first region."""
    return Region.objects.filter(code=code).first() or Region.objects.order_by("code").first()


def organisation_by_name(*, name: str, region: Region) -> Organisation | None:
    return Organisation.objects.filter(name=name, region=region).order_by("pk").first()


def organisations_by_phone_index(phone_bidxs: Iterable[str]) -> dict[str, tuple[int, str]]:
    """{phone blind index: (organisation id, tier)} for active customers and organisation
    contacts with these numbers: who a caller was, without decrypting anything."""
    wanted = sorted({b for b in phone_bidxs if b})
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for bidx, org_id, tier in Organisation.objects.filter(
            contact_phone_bidx__in=chunk, is_active=True
        ).values_list("contact_phone_bidx", "pk", "tier"):
            found.setdefault(bidx, (org_id, tier))
        for bidx, org_id, tier in (
            User.objects.filter(
                phone_bidx__in=chunk,
                is_active=True,
                is_staff=False,
                organisation__is_active=True,
            )
            .order_by("pk")
            .values_list("phone_bidx", "organisation_id", "organisation__tier")
        ):
            found[bidx] = (org_id, tier)  # a person's own number wins over a contact number
    return found


def customers_of(organisation_ids: Iterable[int]) -> dict[int, list[User]]:
    """{organisation id: its active customer users}, in chunks of 500 organisations."""
    wanted = sorted(set(organisation_ids))
    found: dict[int, list[User]] = {}
    for start in range(0, len(wanted), 500):
        for user in User.objects.filter(
            organisation_id__in=wanted[start : start + 500], is_active=True, is_staff=False
        ).order_by("pk"):
            found.setdefault(user.organisation_id, []).append(user)
    return found


def organisations_by_id(ids: Iterable[int]) -> dict[int, Organisation]:
    return Organisation.objects.in_bulk(sorted(set(ids)))


# ------------------------------------------------- imports and exports of the installed base
# These read for a caller already allowed every region (a supervisor, a superuser or a
# command): equipment.importing checks that before calling them.

_CHUNK = 2000


def regions_by_code() -> dict[str, Region]:
    """Every region by its lower-cased code, in one query: a file names regions in any case."""
    return {region.code.lower(): region for region in Region.objects.all()}


def organisations_for_export(
    *, ids: Iterable[int] | QuerySet | None = None
) -> list[dict[str, Any]]:
    """The organisations to export, by code: pk, code, name and region code. Every one, or
    those with these ids; `ids` may be a subquery (a unit queryset's
    `values("organisation_id")`), so they are still read in one query."""
    organisations = Organisation.objects.all()
    if ids is not None:
        organisations = organisations.filter(pk__in=ids)
    return list(organisations.order_by("code", "pk").values("pk", "code", "name", "region__code"))


def organisations_by_code(codes: Iterable[str]) -> list[dict[str, Any]]:
    """The organisations with these codes: pk, code, name and region id."""
    return list(
        Organisation.objects.filter(code__in=list(codes)).values("pk", "code", "name", "region_id")
    )


def contacts_by_email(emails: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Blind index -> the user holding that address (pk, organisation, staff, name, phone)."""
    wanted = sorted({crypto.blind_index("email", e) for e in emails})
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = User.objects.filter(email_bidx__in=wanted[start : start + _CHUNK]).values(
            "pk", "email_bidx", "organisation_id", "is_staff", "full_name", "phone"
        )
        for row in rows:
            found[row["email_bidx"]] = row
    return found


def contacts_of(organisation_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    """Organisation id -> its active customer users (e-mail, full name, phone), by e-mail."""
    ids = sorted(set(organisation_ids))
    found: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = User.objects.filter(
            organisation_id__in=ids[start : start + _CHUNK], is_staff=False, is_active=True
        ).values("organisation_id", "email", "full_name", "phone")
        for row in rows:
            found.setdefault(row["organisation_id"], []).append(row)
    for people in found.values():
        people.sort(key=lambda p: p["email"])
    return found


# ------------------------------------------------------------------- the request's user

TOTP_DEVICE_LABEL = "otp_totp.totpdevice"


def _access_annotations(user_ref: str) -> dict[str, Any]:
    """The user's role names, region ids and permissions (from the user and from their
    groups), each gathered into a JSON list by a subquery on the user's row `user_ref`."""
    from django.db.models import OuterRef, Subquery, Value
    from django.db.models.functions import Concat

    from core.aggregates import JSONList

    memberships = User.groups.through.objects.filter(user_id=OuterRef(user_ref))
    own_perms = User.user_permissions.through.objects.filter(user_id=OuterRef(user_ref))
    group_perms = Group.permissions.through.objects.filter(group__user=OuterRef(user_ref))

    def perm_list(queryset: QuerySet) -> Subquery:
        name = Concat("permission__content_type__app_label", Value("."), "permission__codename")
        return Subquery(
            queryset.annotate(one=Value(1))
            .order_by()
            .values("one")
            .annotate(a=JSONList(name))
            .values("a")
        )

    return {
        "_access_roles": Subquery(
            memberships.filter(group__name__in=roles.ROLES)
            .order_by()
            .values("user_id")
            .annotate(a=JSONList("group__name"))
            .values("a")
        ),
        "_access_regions": Subquery(
            User.regions.through.objects.filter(user_id=OuterRef(user_ref))
            .order_by()
            .values("user_id")
            .annotate(a=JSONList("region_id"))
            .values("a")
        ),
        "_access_user_perms": perm_list(own_perms),
        "_access_group_perms": perm_list(group_perms),
    }


def _with_access(user: User, row: Any) -> User:
    """Give the user what accounts.permissions and Django's ModelBackend would otherwise ask
    the database for on first use (their caches on the user object)."""
    user._role_names = set(row._access_roles or ())
    user._region_ids = sorted(row._access_regions or ())
    if not user.is_superuser:  # a superuser's checks never read the permission caches
        user._user_perm_cache = set(row._access_user_perms or ())
        user._group_perm_cache = set(row._access_group_perms or ())
    return user


# The two annotated querysets, built once per process: resolving their subqueries is most of
# the ORM's work for this query, and a queryset is only a recipe (each filter() copies it).
_ACCESS_BASE: dict[str, QuerySet] = {}


def signed_in_user(*, user_id: Any, device: str | None = None) -> User | None:
    """The user of a signed-in session, in one query with what every staff request asks of
    them next: role names, regions, permissions, and the second-factor device the session
    was verified with (`device`: django-otp's persistent id, e.g. "otp_totp.totpdevice/5").

    Six round trips become one on every page an agent opens. The answers are read fresh on
    every request, never cached across requests: a role or region taken away, or a device
    removed, takes effect on the next click. A device of another kind (a backup code), or
    one that is not this user's, is left to django-otp's own lookup (None here).
    """
    label, _sep, device_pk = (device or "").partition("/")
    if label == TOTP_DEVICE_LABEL and device_pk.isdigit():
        from django_otp.plugins.otp_totp.models import TOTPDevice

        if "device" not in _ACCESS_BASE:
            _ACCESS_BASE["device"] = TOTPDevice.objects.select_related("user").annotate(
                **_access_annotations("user_id")
            )
        found = _ACCESS_BASE["device"].filter(pk=int(device_pk), user_id=user_id).order_by().first()
        if found is not None:
            user = _with_access(found.user, found)
            user._session_device = found
            return user
    if "user" not in _ACCESS_BASE:
        # A customer's organisation rides along: every portal page reads it (the scope of
        # what they see, their region's banners), which was a query of its own.
        _ACCESS_BASE["user"] = User.objects.select_related("organisation").annotate(
            **_access_annotations("pk")
        )
    row = _ACCESS_BASE["user"].filter(pk=user_id).order_by().first()
    return _with_access(row, row) if row is not None else None


def platform_identity_to_answer(*, user: Any, platform: str = "") -> PlatformIdentity | None:
    """The messaging platform identity a person last wrote to the desk from (of `platform`
    when named): one bound to their account, or the one an unidentified contact stands in
    for (a bound identity no longer answers through its old stand-in)."""
    if user is None or getattr(user, "pk", None) is None:
        return None
    rows = PlatformIdentity.objects.filter(
        Q(user=user) | Q(user__isnull=True, contact=user), last_message_at__isnull=False
    )
    if platform:
        rows = rows.filter(platform=platform)
    return rows.order_by("-last_message_at", "-pk").first()


def person_platform_identities(user: Any) -> list[dict[str, Any]]:
    """A person's messaging platform identities, for their data export."""
    rows = PlatformIdentity.objects.filter(Q(user=user) | Q(contact=user)).order_by("pk")
    return [
        {
            "platform": row.platform,
            "app_id": row.app_id,
            "user_id": row.external_id,
            "union_id": row.union_id,
            "bound_at": row.bound_at,
            "first_message_at": row.first_seen_at,
            "last_message_at": row.last_message_at,
        }
        for row in rows
    ]


def bound_platform_identities(user: Any) -> list[PlatformIdentity]:
    """The WeChat and WeCom accounts a customer linked to their portal account, newest
    first (their profile lists them; the ids stay encrypted and are not shown)."""
    return list(PlatformIdentity.objects.filter(user=user).order_by("-bound_at", "-pk"))


def bound_platform_identity(*, user: Any, pk: Any) -> PlatformIdentity:
    """One of the customer's linked accounts; another's, or none, is a 404 (another's
    audited, as every refused object: accounts.permissions.refuse)."""
    from django.http import Http404

    from accounts.permissions import refuse

    pk = str(pk)
    if not (pk.isascii() and pk.isdigit() and len(pk) < 19):
        raise Http404
    found = PlatformIdentity.objects.filter(user=user, pk=int(pk)).first()
    if found is None:
        refuse(user, PlatformIdentity.objects.all(), pk=int(pk))
    return found
