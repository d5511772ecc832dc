"""Customer organisations."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import ORGANISATION_CODE, Organisation, Region, Tier
from accounts.services.api_keys import forget_organisation_keys
from audit.services import audit_record
from core import search_terms
from core.errors import ApplicationError

ORGANISATION_FIELDS = (
    "code",
    "name",
    "name_en",
    "tier",
    "region",
    "contact_name",
    "contact_email",
    "contact_phone",
    "address",
    "is_active",
)


def code_problem(code: str) -> str | None:
    """Why an organisation code cannot be used (None when it can); uniqueness is not checked."""
    try:
        ORGANISATION_CODE(code or "")
    except ValidationError as exc:
        return str(exc.messages[0])
    return None


def _validate(values: dict[str, Any], *, instance: Organisation | None = None) -> None:
    if values.get("code"):
        problem = code_problem(values["code"])
        if problem:
            raise ApplicationError(problem, fields={"code": [problem]})
        taken = Organisation.objects.filter(code=values["code"])
        if instance is not None:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            raise ApplicationError(
                _("Another organisation has this code."),
                code="duplicate",
                fields={"code": [_("Already in use.")]},
            )
    if "name" in values and not str(values["name"]).strip():
        raise ApplicationError(
            _("Enter the organisation's name."), fields={"name": [_("This field is required.")]}
        )
    if "tier" in values and values["tier"] not in Tier.values:
        raise ApplicationError(
            _("Unknown customer tier."), fields={"tier": [_("Choose a valid tier.")]}
        )
    if "region" in values and not isinstance(values["region"], Region):
        raise ApplicationError(
            _("Choose a region."), fields={"region": [_("This field is required.")]}
        )


@transaction.atomic
def organisation_create(
    *, actor: Any, name: str, region: Region, tier: str = Tier.STANDARD, **fields: Any
) -> Organisation:
    unknown = set(fields) - set(ORGANISATION_FIELDS)
    if unknown:
        raise ApplicationError(_("Unknown fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    values = {"name": name.strip(), "region": region, "tier": tier, **fields}
    values["code"] = str(values.get("code") or "").strip()
    _validate(values)
    org = Organisation.objects.create(**values)
    if not org.code:
        # Every organisation has a code, so exports of the installed base can name all of
        # them and a re-import finds them again.
        org.code = values["code"] = f"WD-{org.pk}"
        Organisation.objects.filter(pk=org.pk).update(code=org.code)
    audit_record(
        action="organisation.created",
        actor=actor,
        target=org,
        changes={k: (v.pk if isinstance(v, Region) else v) for k, v in values.items()},
    )
    return org


@transaction.atomic
def organisation_update(*, organisation: Organisation, actor: Any, **changes: Any) -> Organisation:
    unknown = set(changes) - set(ORGANISATION_FIELDS)
    if unknown:
        raise ApplicationError(_("Unknown fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    if "code" in changes:
        changes["code"] = str(changes["code"] or "").strip()
        if not changes["code"]:
            raise ApplicationError(
                _("An organisation keeps a code."), fields={"code": [_("This field is required.")]}
            )
    _validate(changes, instance=organisation)
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    changed = {}
    for name, value in changes.items():
        if getattr(org, name) != value:
            setattr(org, name, value)
            changed[name] = value.pk if isinstance(value, Region) else value
    if changed:
        fields = list(changed) + [
            f"{n}_bidx" for n in ("contact_email", "contact_phone") if n in changed
        ]
        org.save(update_fields=[*fields, "updated_at"])
        if changed.keys() & {"name", "name_en"}:
            search_terms.changed("accounts.Organisation", [org.pk])
        audit_record(action="organisation.changed", actor=actor, target=org, changes=changed)
        # Its keys carry a copy of the row (tier, region, active) in the shared cache.
        forget_organisation_keys(org)
    return org


@transaction.atomic
def organisation_priority_set(
    *, organisation: Organisation, until: Any, actor: Any, reason: str
) -> Organisation:
    """Set (or end, with None) an organisation's priority service; audited.

    While it lasts, the organisation's new tickets go to the front of their queue and get the
    fastest tier's SLA (tickets.services.tickets). Compensation sets it when it applies or
    reverses a priority-service grant.
    """
    if not reason or not reason.strip():
        raise ApplicationError(_("Give a reason for the change of priority service."))
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    if org.priority_service_until != until:
        org.priority_service_until = until
        org.save(update_fields=["priority_service_until", "updated_at"])
        audit_record(
            action="organisation.priority_service",
            actor=actor,
            target=org,
            changes={"priority_service_until": until},
            data={"reason": reason.strip()[:200]},
        )
        forget_organisation_keys(org)
    organisation.priority_service_until = org.priority_service_until
    return org
