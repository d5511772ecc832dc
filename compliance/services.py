"""Every write of compliance: data-subject access exports and erasures, audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import users as account_services
from audit.services import audit_record
from chat import services as chat_services
from compliance import dsar
from compliance.models import ErasureRequest, ErasureStatus
from core import privacy
from core.errors import ApplicationError
from core.throttle import over_limit
from core.validation import clean_text
from intake import services as intake_services
from intake.mail import services as mail_services
from intake.wechat import services as wechat_services
from logistics import services as logistics_services
from notifications import services as notification_services
from status import notify as status_notify
from tickets.services import tickets as ticket_services

# A customer may download their data this many times an hour.
EXPORTS_PER_HOUR = 3


def access_export(*, subject: Any, actor: Any, password: str | None = None):
    """The subject's data as a ZIP (a rewound temporary file). A customer asking for their
    own data re-enters their password; a compliance officer needs the permission."""
    own = getattr(actor, "pk", None) == subject.pk
    if own:
        _check_password(subject, password)
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


REVIEW = "compliance.review_erasurerequest"


def _check_password(subject: Any, password: str | None) -> None:
    if not password or not subject.check_password(password):
        audit_record(action="privacy.access_refused", actor=subject, target=subject)
        raise ApplicationError(
            _("Your password is not correct."),
            fields={"password": [_("Enter your current password.")]},
            code="bad_password",
        )


@transaction.atomic
def erasure_request(
    *, subject: Any, actor: Any, reason: Any = "", password: str | None = None
) -> ErasureRequest:
    """Record a request to erase a person (by the person, after their password, or by an
    officer on their behalf); one open request a person."""
    if getattr(actor, "pk", None) == subject.pk:
        _check_password(subject, password)
    elif not actor.has_perm(REVIEW):
        raise ApplicationError(_("Only a compliance officer can do this."), status_code=403)
    if subject.is_superuser:
        raise ApplicationError(_("A superuser cannot be erased; remove the role first."))
    existing = ErasureRequest.objects.filter(
        subject=subject, status=ErasureStatus.REQUESTED
    ).first()
    if existing is not None:
        return existing
    request = ErasureRequest.objects.create(
        subject=subject,
        requested_by=actor,
        reason=clean_text(reason, "reason", _("The reason"), limit=300, required=False),
    )
    audit_record(action="privacy.erasure_requested", actor=actor, target=request)
    return request


def erasure_review(*, request: ErasureRequest, actor: Any, approve: bool, note: Any = ""):
    """A compliance officer rejects a request (with a reason) or approves it, which carries
    the erasure out at once, in one transaction, through every owning app."""
    if not actor.has_perm(REVIEW):
        raise ApplicationError(_("Only a compliance officer can do this."), status_code=403)
    note = clean_text(note, "note", _("The review note"), limit=300, required=not approve)
    with transaction.atomic():
        locked = ErasureRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != ErasureStatus.REQUESTED:
            raise ApplicationError(_("This request was reviewed already."), code="reviewed")
        if locked.subject_id == actor.pk:
            raise ApplicationError(_("Nobody reviews a request about themselves."))
        locked.reviewed_by, locked.reviewed_at, locked.review_note = actor, timezone.now(), note
        if not approve:
            locked.status = ErasureStatus.REJECTED
            locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
            audit_record(action="privacy.erasure_rejected", actor=actor, target=locked)
            return locked
        locked.summary = _erase(locked.subject, actor=actor)
        locked.status = ErasureStatus.DONE
        locked.save(
            update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "summary"]
        )
        audit_record(action="privacy.erasure_done", actor=actor, target=locked, data=locked.summary)
    return locked


def _erase(subject: Any, *, actor: Any) -> dict[str, Any]:
    """Every app erases what it holds of the person (core/privacy.py lists the fields)."""
    marks = privacy.Marks(email=subject.email, phone=subject.phone, name=subject.full_name)
    email_bidx, phone_bidx = subject.email_bidx, subject.phone_bidx
    summary: dict[str, Any] = {}
    summary["tickets"] = ticket_services.tickets_erase_person(
        user=subject, marks=marks, actor=actor
    )
    summary["chat"] = chat_services.chats_erase_person(user=subject, marks=marks, actor=actor)
    summary["shipments"] = logistics_services.shipments_erase_person(
        user=subject, marks=marks, actor=actor
    )
    summary["notifications"] = notification_services.notifications_erase_person(
        user=subject, marks=marks, actor=actor
    )
    summary["status_subscriptions"] = status_notify.subscriber_erase_person(
        email_bidx=email_bidx, actor=actor
    )
    summary["calls"] = intake_services.calls_erase_person(phone_bidx=phone_bidx, actor=actor)
    summary["mails"] = mail_services.mail_erase_person(email_bidx=email_bidx, actor=actor)
    # Before the account: the identities it deletes name the person's platform messages.
    summary["platform_messages"] = wechat_services.platform_erase_person(user=subject, actor=actor)
    summary["account"] = account_services.user_erase(user=subject, actor=actor)
    return summary
