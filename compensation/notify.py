"""Tell customers, in their language, what compensation they received (or lost) and why.

One notice per organisation person and event for each batch of applied grants, by the channels
they chose (notifications reads them: e-mail, SMS, WeCom, browser, webhook). Written to the
outbox in the caller's transaction and handed to the workers after commit.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from compensation.models import GrantKind
from notifications.messages import (
    Message,
    hand_over,
    notify,
    notify_many,
    prefetch_channels,
)


def _link() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("portal:compensation")


def _message(*, key: str, template: str, context: dict, short: str, about: Any) -> Message:
    return Message(
        template=template,
        key=key,
        context={**context, "short": short[:300]},
        about=about,
        url=_link(),
        tag=key,
    )


def _send(user: Any, *, key: str, template: str, context: dict, short: str, about: Any) -> list:
    message = _message(key=key, template=template, context=context, short=short, about=about)
    return notify(to=user, message=message, hand_over=False)


def granted(grants: list[Any]) -> list[int]:
    """Notices for grants just applied, one per person and event.

    Composed here (what each person is told, in their language); notifications decides the
    channels and writes the rows of the whole batch in a few inserts (`notify_many`).
    """
    from compensation.services import describe, event_text

    groups: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for grant in grants:
        groups[(grant.organisation_id, grant.assessment_id)].append(grant)
    people = account_selectors.customers_of(org for org, _a in groups)
    prefetch_channels(user for users in people.values() for user in users)
    link = _link()
    # Texts per event and language, composed once for the batch rather than once a person.
    whys: dict[tuple[int, str], str] = {}
    messages: list[tuple[Any, Message]] = []
    for (org_id, assessment_id), batch in groups.items():
        users = people.get(org_id, [])
        if not users:
            continue
        digest = hashlib.sha256(",".join(str(g.pk) for g in batch).encode()).hexdigest()[:16]
        assessment = batch[0].assessment
        vouchers = [g.voucher.code for g in batch if g.kind == GrantKind.VOUCHER]
        for user in users:
            language = user.language or settings.LANGUAGE_CODE
            with translation.override(language):
                lines = [describe(g, language) for g in batch]
                if (assessment_id, language) not in whys:
                    whys[(assessment_id, language)] = event_text(assessment, language)
                why = whys[(assessment_id, language)]
                short = _("WeldDesk: compensation for %(why)s: %(what)s. %(link)s") % {
                    "why": why,
                    "what": "; ".join(lines),
                    "link": link,
                }
            key = f"compensation:{assessment.pk}:{org_id}:{digest}:{user.pk}"
            messages.append(
                (
                    user,
                    _message(
                        key=key,
                        template="compensation_granted",
                        context={
                            "user": user,
                            "lines": lines,
                            "vouchers": vouchers,
                            "why": why,
                            "link": link,
                        },
                        short=short,
                        about=batch[0],
                    ),
                )
            )
    return notify_many(messages)


def withdrawn(grant: Any) -> list[int]:
    """A notice that an applied grant was taken back, with the reason."""
    from compensation.services import describe, event_text

    ids: list[int] = []
    people = account_selectors.customers_of([grant.organisation_id]).get(grant.organisation_id, [])
    prefetch_channels(people)
    for user in people:
        language = user.language or settings.LANGUAGE_CODE
        with translation.override(language):
            what = describe(grant, language)
            short = _("WeldDesk: a compensation was withdrawn: %(what)s. %(link)s") % {
                "what": what,
                "link": _link(),
            }
            why = event_text(grant.assessment, language)
        ids += _send(
            user,
            key=f"compensation-reversed:{grant.pk}:{user.pk}",
            template="compensation_reversed",
            context={
                "user": user,
                "what": what,
                "why": why,
                "reason": grant.reversal_reason,
                "link": _link(),
            },
            short=short,
            about=grant,
        )
    hand_over(ids)
    return ids
