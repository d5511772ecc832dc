"""Customer organisations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ORGANISATION_CODE, Organisation, Region, Tier
from accounts.services.api_keys import forget_keys_of_organisations, forget_organisation_keys
from audit.services import audit_record, audit_record_many
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
    reverses a priority-service grant (many at once through `organisations_priority_set_many`,
    the one home of the rule).
    """
    ends = organisations_priority_set_many(
        changes=[PriorityChange(organisation_id=organisation.pk, until=until, reason=reason)],
        actor=actor,
    )
    organisation.priority_service_until = ends[organisation.pk]
    return organisation


@dataclass(frozen=True)
class PriorityChange:
    """One change asked of `organisations_priority_set_many`: until when, and why.

    With `extend_only`, a later end already set stays (compensation gives "at least N days").
    """

    organisation_id: int
    until: Any
    reason: str
    extend_only: bool = False


@transaction.atomic
def organisations_priority_set_many(
    *, changes: Sequence[PriorityChange], actor: Any
) -> dict[int, Any]:
    """Set many organisations' priority service at a fixed number of statements; audited.

    The organisations are locked in one SELECT ... FOR UPDATE in primary-key order (only the
    columns changed: their personal data is not decrypted); those whose end really changes
    are updated in one statement and get one audit event each, as `organisation_priority_set`
    gives one. An organisation named twice ends as its last change says, with an event for
    each change made, in turn. Returns each organisation's end by id.
    """
    for change in changes:
        if not change.reason or not change.reason.strip():
            raise ApplicationError(_("Give a reason for the change of priority service."))
    orgs = {
        org.pk: org
        for org in Organisation.objects.select_for_update()
        .filter(pk__in=sorted({c.organisation_id for c in changes}))
        .only("pk", "priority_service_until", "updated_at")
        .order_by("pk")
    }
    missing = {c.organisation_id for c in changes} - set(orgs)
    if missing:
        raise Organisation.DoesNotExist(f"Organisations {sorted(missing)} do not exist.")
    rounds: list[dict[int, PriorityChange]] = []
    for change in changes:
        free = next((r for r in rounds if change.organisation_id not in r), None)
        if free is None:
            rounds.append(free := {})
        free[change.organisation_id] = change
    now = timezone.now()
    for taken in rounds:
        moved = []
        for org_id, change in taken.items():
            org = orgs[org_id]
            until, current = change.until, org.priority_service_until
            if change.extend_only and current is not None and (until is None or current > until):
                until = current
            if current != until:
                org.priority_service_until, org.updated_at = until, now
                moved.append(org)
        if not moved:
            continue
        _save_priority_ends(moved, now)
        audit_record_many(
            action="organisation.priority_service",
            actor=actor,
            model=Organisation,
            target_ids=[org.pk for org in moved],
            per_target_changes={
                org.pk: {"priority_service_until": org.priority_service_until} for org in moved
            },
            per_target={org.pk: {"reason": taken[org.pk].reason.strip()[:200]} for org in moved},
        )
        forget_keys_of_organisations([org.pk for org in moved])
    return {org_id: org.priority_service_until for org_id, org in orgs.items()}


# The new ends in one statement: (id, end) rows as arrays on PostgreSQL (a CASE per row, as
# `bulk_update` builds it, grows with the square of the rows).
_SET_PRIORITY = (
    "UPDATE {table} AS o SET priority_service_until = v.until, updated_at = %s"
    " FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, until) WHERE o.id = v.id"
)


def _save_priority_ends(orgs: list[Organisation], now: Any) -> None:
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Organisation._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                _SET_PRIORITY.format(table=table),
                [now, [o.pk for o in orgs], [o.priority_service_until for o in orgs]],
            )
        return
    Organisation.objects.bulk_update(orgs, ["priority_service_until", "updated_at"])
