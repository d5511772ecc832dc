"""Satisfaction surveys: a signed single-use link per resolution, answered without login."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import ApplicationError, NotFound
from tickets.models import Survey, Ticket

SALT = "tickets.survey"
MAX_AGE = dt.timedelta(days=30)


def survey_create(*, ticket: Ticket) -> str:
    """Create the survey of a resolution and return its signed token (in a transaction)."""
    survey = Survey.objects.create(ticket=ticket, agent_id=ticket.assignee_id, queue=ticket.queue)
    return signing.dumps({"s": survey.pk, "n": survey.nonce.hex}, salt=SALT, compress=True)


def survey_from_token(token: str) -> Survey:
    """Return the survey a token names; refuse forged, expired or unknown tokens."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.SignatureExpired as exc:
        raise ApplicationError(_("This survey link has expired."), code="expired") from exc
    except signing.BadSignature as exc:
        raise NotFound(_("This survey link is not valid.")) from exc
    survey = (
        Survey.objects.select_related("ticket").filter(pk=data.get("s")).first()
        if isinstance(data, dict)
        else None
    )
    if survey is None or survey.nonce.hex != data.get("n"):
        raise NotFound(_("This survey link is not valid."))
    return survey


@transaction.atomic
def survey_answer(
    *, token: str, rating: Any, comment: str = "", actor: Any = "anonymous"
) -> Survey:
    """Record the rating once; a second answer is refused."""
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        rating = 0
    if not 1 <= rating <= 5:
        raise ApplicationError(
            _("Choose a rating from 1 to 5."), fields={"rating": [_("Choose 1 to 5.")]}
        )
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise ApplicationError(
            _("The comment is too long."), fields={"comment": [_("Use at most 2000 characters.")]}
        )
    survey = survey_from_token(token)
    locked = Survey.objects.select_for_update().get(pk=survey.pk)
    if locked.answered_at is not None:
        raise ApplicationError(
            _("Thank you, this survey has already been answered."), code="already_answered"
        )
    locked.rating, locked.comment, locked.answered_at = rating, comment, timezone.now()
    locked.save(update_fields=["rating", "comment", "answered_at"])
    audit_record(
        action="survey.answered",
        actor=actor,
        target=locked,
        data={"ticket": locked.ticket_id, "rating": rating, "with_comment": bool(comment)},
    )
    return locked


def survey_open_for(ticket: Ticket) -> Survey | None:
    """Return the ticket's latest survey still waiting for an answer, if it is not too old."""
    survey = ticket.surveys.order_by("-sent_at", "-pk").first()
    if survey is None or survey.answered_at is not None:
        return None
    if survey.sent_at < timezone.now() - MAX_AGE:
        return None
    return survey


@transaction.atomic
def survey_answer_signed_in(*, ticket: Ticket, user: Any, rating: Any, comment: str = "") -> Survey:
    """Record the rating of a signed-in requester's organisation on the ticket's open survey."""
    if getattr(user, "organisation_id", None) != ticket.organisation_id:
        raise NotFound(_("This ticket has no survey to answer."))
    survey = survey_open_for(ticket)
    if survey is None:
        raise ApplicationError(_("There is nothing to rate on this ticket now."), code="no_survey")
    token = signing.dumps({"s": survey.pk, "n": survey.nonce.hex}, salt=SALT, compress=True)
    return survey_answer(token=token, rating=rating, comment=comment, actor=user)
