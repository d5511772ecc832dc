"""Every write of compliance: a data-subject access export is audited when it is produced."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from audit.services import audit_record
from compliance import dsar
from core.errors import ApplicationError
from core.throttle import over_limit

# A customer may download their data this many times an hour.
EXPORTS_PER_HOUR = 3


def access_export(*, subject: Any, actor: Any, password: str | None = None):
    """The subject's data as a ZIP (a rewound temporary file). A customer asking for their
    own data re-enters their password; a compliance officer needs the permission."""
    own = getattr(actor, "pk", None) == subject.pk
    if own:
        if not password or not subject.check_password(password):
            audit_record(action="privacy.access_refused", actor=actor, target=subject)
            raise ApplicationError(
                _("Your password is not correct."),
                fields={"password": [_("Enter your current password.")]},
                code="bad_password",
            )
        if over_limit(f"dsar:{subject.pk}", EXPORTS_PER_HOUR, seconds=3600):
            raise ApplicationError(
                _("You have downloaded your data several times this hour; try again later."),
                code="throttled",
                status_code=429,
            )
    elif not actor.has_perm("compliance.export_datasubject"):
        raise ApplicationError(_("Only a compliance officer can do this."), status_code=403)
    archive = dsar.build(subject)
    audit_record(
        action="privacy.access_exported",
        actor=actor,
        target=subject,
        data={"by": "subject" if own else "compliance"},
    )
    return archive
