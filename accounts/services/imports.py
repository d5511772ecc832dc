"""Organisations and their contacts written in bulk, for imports of the installed base.

An ERP export names thousands of organisations and contacts at once; writing them one by one
through organisation_create and user_create would cost several statements and an audit lock
per row. These services take what the file wants, lock the rows that already exist, write
only the differences with bulk statements and append one audit event per created or changed
row (changed field names only, never a personal value), all in the caller's transaction.

Contacts are customer users of the organisation, found by the blind index of their e-mail
address. A new contact gets no usable password (they choose one through the password reset)
and is never staff. A contact whose address belongs to a staff account or to another
organisation's user is refused: an import never moves a person between customers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation, Region, User
from accounts.services.organisations import code_problem
from audit.services import audit_record_many
from core import crypto, search_terms
from core.errors import ApplicationError

CHUNK = 2000


@dataclass(frozen=True)
class WantedOrganisation:
    code: str
    name: str
    region: Region


@dataclass(frozen=True)
class WantedContact:
    email: str
    full_name: str
    phone: str
    organisation_id: int


def organisation_problems(*, code: str, name: str) -> dict[str, str]:
    """Field -> message for values an organisation cannot have (shared with the planner)."""
    problems = {}
    problem = code_problem(code)
    if problem:
        problems["code"] = problem
    if not name.strip():
        problems["name"] = _("Enter the organisation's name.")
    elif len(name) > 200:
        problems["name"] = _("Use at most 200 characters.")
    return problems


def contact_problems(*, email: str, full_name: str, phone: str) -> dict[str, str]:
    """Field -> message for a contact that could not be saved (shared with the planner)."""
    problems = {}
    try:
        validate_email(crypto.normalise_email(email))
    except ValidationError:
        problems["email"] = _("Enter a valid email address.")
    if len(email) > 254:
        problems["email"] = _("Use at most 254 characters.")
    if not full_name.strip():
        problems["full_name"] = _("Enter the person's full name.")
    elif len(full_name) > 200:
        problems["full_name"] = _("Use at most 200 characters.")
    if len(phone) > 40:
        problems["phone"] = _("Use at most 40 characters.")
    return problems


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _audit_grouped(
    *, action: str, actor: Any, model: type, changed: dict[int, list[str]], data: dict
) -> None:
    """One event per row; rows that changed the same fields share one bulk append."""
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for pk, names in changed.items():
        groups[tuple(sorted(names))].append(pk)
    for names, pks in groups.items():
        audit_record_many(
            action=action, actor=actor, model=model, target_ids=pks, changes=list(names), data=data
        )


@transaction.atomic
def organisations_import(
    *, actor: Any, wanted: Sequence[WantedOrganisation], data: dict[str, Any] | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """Create or update organisations by code; return (code -> id, counts).

    Only the code, name and region come from an import; tier, contact details and the rest
    stay as the desk keeps them.
    """
    data = dict(data or {})
    for item in wanted:
        problems = organisation_problems(code=item.code, name=item.name)
        if problems:
            raise ApplicationError(
                _("Organisation %(code)s: %(problem)s")
                % {"code": item.code, "problem": "; ".join(problems.values())}
            )
    existing: dict[str, Organisation] = {}
    codes = [item.code for item in wanted]
    for chunk in _chunks(codes):
        for org in Organisation.objects.select_for_update().filter(code__in=chunk):
            existing[org.code] = org
    now = timezone.now()
    new = [
        Organisation(code=i.code, name=i.name.strip(), region=i.region)
        for i in wanted
        if i.code not in existing
    ]
    changed: dict[int, list[str]] = {}
    to_update: list[Organisation] = []
    for item in wanted:
        org = existing.get(item.code)
        if org is None:
            continue
        names = []
        if org.name != item.name.strip():
            org.name = item.name.strip()
            names.append("name")
        if org.region_id != item.region.pk:
            org.region = item.region
            names.append("region")
        if names:
            org.updated_at = now
            changed[org.pk] = names
            to_update.append(org)
    Organisation.objects.bulk_create(new, batch_size=CHUNK)
    if to_update:
        Organisation.objects.bulk_update(
            to_update, ["name", "region", "updated_at"], batch_size=CHUNK
        )
    audit_record_many(
        action="organisation.created",
        actor=actor,
        model=Organisation,
        target_ids=[org.pk for org in new],
        changes=["code", "name", "region"],
        data=data,
    )
    _audit_grouped(
        action="organisation.changed", actor=actor, model=Organisation, changed=changed, data=data
    )
    renamed = [pk for pk, names in changed.items() if "name" in names]
    search_terms.changed("accounts.Organisation", renamed)
    ids = {org.code: org.pk for org in [*existing.values(), *new]}
    counts = {
        "created": len(new),
        "changed": len(changed),
        "unchanged": len(existing) - len(changed),
    }
    return ids, counts


@transaction.atomic
def contacts_import(
    *,
    actor: Any,
    wanted: Sequence[WantedContact],
    data: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Create or update customer users by e-mail address within their organisation.

    A new contact has no usable password and is no staff member. An address held by staff
    or by another organisation's user is refused (ApplicationError, so nothing is written).
    """
    data = dict(data or {})
    by_index: dict[str, WantedContact] = {}
    for item in wanted:
        problems = contact_problems(email=item.email, full_name=item.full_name, phone=item.phone)
        if problems:
            raise ApplicationError(
                _("Contact: %(problem)s") % {"problem": "; ".join(problems.values())}
            )
        by_index[crypto.blind_index("email", item.email)] = item
    existing: dict[str, User] = {}
    for chunk in _chunks(sorted(by_index)):
        for user in User.objects.select_for_update().filter(email_bidx__in=chunk):
            existing[user.email_bidx] = user
    new: list[User] = []
    to_update: list[User] = []
    changed: dict[int, list[str]] = {}
    for index, item in by_index.items():
        user = existing.get(index)
        full_name, phone = item.full_name.strip(), item.phone.strip()
        if user is None:
            new.append(
                User(
                    email=crypto.normalise_email(item.email),
                    full_name=full_name,
                    phone=phone,
                    organisation_id=item.organisation_id,
                    password=make_password(None),
                )
            )
            continue
        if user.is_staff or user.organisation_id != item.organisation_id:
            raise ApplicationError(
                _("An address in the file belongs to a user outside its organisation."),
                code="contact_elsewhere",
            )
        names = []
        if user.full_name != full_name:
            user.full_name = full_name
            names.append("full_name")
        if user.phone != phone:
            user.phone = phone
            user.phone_bidx = crypto.blind_index("phone", phone)
            names.append("phone")
        if names:
            changed[user.pk] = names
            to_update.append(user)
    # bulk_create runs each field's pre_save, so the blind indexes are computed as on save().
    User.objects.bulk_create(new, batch_size=CHUNK)
    if to_update:
        User.objects.bulk_update(to_update, ["full_name", "phone", "phone_bidx"], batch_size=CHUNK)
    audit_record_many(
        action="user.created",
        actor=actor,
        model=User,
        target_ids=[user.pk for user in new],
        changes=["email", "full_name", "phone", "organisation"],
        data=data,
    )
    _audit_grouped(
        action="user.profile_changed", actor=actor, model=User, changed=changed, data=data
    )
    search_terms.changed(
        "accounts.User", [pk for pk, names in changed.items() if "full_name" in names]
    )
    return {
        "created": len(new),
        "changed": len(changed),
        "unchanged": len(existing) - len(changed),
    }
