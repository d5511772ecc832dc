"""Call events from the phone system, and what the desk does for missed callers.

Events (started, answered, ended, abandoned) are applied to one Call per call id, in any order
and any number of times (the phone system may resend). When a call is missed while its line
is down (its status component in partial or major outage) or overloaded (answer rate under the
threshold), the caller gets one SMS a day with the chat and portal links, and one callback
ticket (priority P2, its own SLA) while an earlier one of theirs is still active.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from accounts.models import Organisation, User
from audit.services import audit_record
from core.errors import ApplicationError
from core.models import lock_or_insert
from core.validation import datetime_or_none
from intake import selectors
from intake.models import Call
from notifications.messages import Message, Recipient, notify, recipient_of
from status.selectors import component_status
from tickets.models import ACTIVE_STATUSES, Channel, Kind, Priority
from tickets.services.tickets import ticket_open

ACTOR = "system:telephony"
EVENTS = ("started", "answered", "ended", "abandoned")
DOWN = ("partial_outage", "major_outage")
# Callers the desk does not know become callback tickets of this organisation (one per
# region), so an agent still calls them back.
UNKNOWN_CALLERS = "Unidentified callers / 未识别来电"


def _bad(message: str) -> ApplicationError:
    return ApplicationError(message, code="bad_event")


def parse_event(event: Any, n: int = 0) -> dict:
    if not isinstance(event, dict):
        raise _bad(f"events[{n}] must be an object.")
    call_id, line = event.get("call_id"), event.get("line")
    kind, at = event.get("event"), datetime_or_none(event.get("at"))
    caller = event.get("caller", "")
    if not isinstance(call_id, str) or not 1 <= len(call_id) <= 100:
        raise _bad(f"events[{n}].call_id must be a string of 1 to 100 characters.")
    if (
        not isinstance(line, str)
        or not line
        or len(line) > 50
        or not line.replace("-", "").isalnum()
    ):
        raise _bad(f"events[{n}].line must be a line name (letters, digits, -).")
    if kind not in EVENTS:
        raise _bad(f"events[{n}].event must be one of {', '.join(EVENTS)}.")
    if at is None or at.tzinfo is None:
        raise _bad(f"events[{n}].at must be a date and time with its offset.")
    if not isinstance(caller, str) or len(caller) > 40:
        raise _bad(f"events[{n}].caller must be a phone number.")
    return {"call_id": call_id, "line": line.lower(), "event": kind, "at": at, "caller": caller}


def events_receive(events: Any) -> dict[str, int]:
    """Apply a batch of events (all checked first: a bad one refuses the batch)."""
    if not isinstance(events, list) or not 1 <= len(events) <= 1000:
        raise _bad("events must be a list of 1 to 1000 events.")
    parsed = [parse_event(e, n) for n, e in enumerate(events)]
    counts = {"calls": 0, "sms": 0, "callbacks": 0}
    for event in parsed:
        done = call_event(**event)
        counts["calls"] += 1
        counts["sms"] += done["sms"]
        counts["callbacks"] += done["callback"]
    return counts


@transaction.atomic
def call_event(
    *, call_id: str, line: str, event: str, at: dt.datetime, caller: str = ""
) -> dict[str, int]:
    call = lock_or_insert(
        Call,
        {"call_id": call_id},
        Call(call_id=call_id, line=line, caller=caller.strip(), started_at=at),
    )
    if caller and not call.caller:
        call.caller = caller.strip()
    was_missed = call.missed
    if event == "started":
        call.started_at = min(call.started_at, at)
    elif event == "answered":
        call.answered_at = call.answered_at or at
    elif event == "ended":
        call.ended_at = call.ended_at or at
    elif event == "abandoned":
        call.abandoned = True
        call.ended_at = call.ended_at or at
    call.save()
    if call.missed and not was_missed:
        return _missed(call)
    return {"sms": 0, "callback": 0}


def _missed(call: Call) -> dict[str, int]:
    """A caller the desk did not answer: point them to the other channels and call back,
    when the line is down or overloaded (a single missed call on a healthy line is not)."""
    down = component_status(f"{selectors.HOTLINE_PREFIX}{call.line}") in DOWN
    rate = selectors.answer_rates(line=call.line).get(call.line)
    if not (down or selectors.overloaded(rate)) or not call.caller_bidx:
        return {"sms": 0, "callback": 0}
    known = account_selectors.customer_by_phone_index(call.caller_bidx)
    language = (known.language if known else "") or "zh-hans"
    sms = _sms(call, known, language)
    callback = _callback(call, known, language)
    call.save(update_fields=["sms_sent", "callback_ticket"])
    audit_record(
        action="telephony.missed_caller_helped",
        actor=ACTOR,
        target=call,
        data={"line": call.line, "sms": bool(sms), "callback": bool(callback), "down": down},
    )
    return {"sms": sms, "callback": callback}


def _sms(call: Call, known: User | None, language: str) -> int:
    """Point the caller to chat and portal: an SMS to the number that called, and a known
    customer also by the other channels they chose. One a day per caller; returns 1 when
    it was written now."""
    chat = f"{settings.SITE_URL}{reverse('portal:chat')}"
    portal = f"{settings.SITE_URL}{reverse('portal:ticket_new')}"

    def context(language: str) -> dict:
        return {
            "chat": chat,
            "portal": portal,
            "short": _(
                "WeldDesk: sorry we missed your call; our hotline is overloaded. Chat with us: "
                "%(chat)s Report the fault in the portal: %(portal)s We will call you back."
            )
            % {"chat": chat, "portal": portal},
        }

    found = recipient_of(known) if known is not None else None
    recipient = Recipient(
        language=language,
        email=found.email if found else "",
        phone=call.caller,
        wecom_id=found.wecom_id if found else "",
        push_subscription_ids=found.push_subscription_ids if found else (),
        webhook_url=found.webhook_url if found else "",
    )
    call.sms_sent = True
    ids = notify(
        to=recipient,
        message=Message(
            template="missed_call",
            key=f"telephony:missed:{call.caller_bidx[:24]}:{timezone.localdate().isoformat()}",
            context=context,
            about=call,
            url=chat,
            tag="missed-call",
        ),
    )
    return 1 if ids else 0


def _callback(call: Call, known: User | None, language: str) -> int:
    """One active callback ticket per caller: reuse theirs, or open one."""
    earlier = (
        Call.objects.filter(
            caller_bidx=call.caller_bidx,
            callback_ticket__status__in=ACTIVE_STATUSES,
        )
        .exclude(pk=call.pk)
        .select_related("callback_ticket")
        .first()
    )
    if earlier is not None:
        call.callback_ticket = earlier.callback_ticket
        return 0
    organisation = known.organisation if known and known.organisation_id else _unknown(call)
    with translation.override(language):
        subject = _("Callback: missed call on the %(line)s hotline") % {"line": call.line}
        body = _(
            "The caller could not get through on %(at)s while the line was down or "
            "overloaded. Please call back: %(number)s"
        ) % {
            "at": timezone.localtime(call.started_at).strftime("%Y-%m-%d %H:%M"),
            "number": call.caller,
        }
    call.callback_ticket = ticket_open(
        actor=ACTOR,
        organisation=organisation,
        requester=known,
        subject=subject,
        body=body,
        kind=Kind.CALLBACK,
        priority=Priority.P2,
        channel=Channel.CALLBACK,
    )
    return 1


def _unknown(call: Call) -> Organisation:
    region = account_selectors.region_for_line(call.line)
    found = account_selectors.organisation_by_name(name=UNKNOWN_CALLERS, region=region)
    if found is not None:
        return found
    from accounts.services import organisation_create

    return organisation_create(actor=ACTOR, name=UNKNOWN_CALLERS, region=region)


@transaction.atomic
def calls_erase_person(*, phone_bidx: str, actor: Any) -> int:
    """Erasure: calls from the person's number keep their times, not the number."""
    if not phone_bidx:
        return 0
    erased = Call.objects.filter(caller_bidx=phone_bidx).update(caller="", caller_bidx="")
    if erased:
        audit_record(action="intake.calls_erased", actor=actor, data={"calls": erased})
    return erased


def calls_expire(*, started_before: Any, dry_run: bool) -> dict[str, int]:
    """Retention: calls keep their times and line, not the caller's number."""
    old = Call.objects.filter(started_at__lt=started_before).exclude(caller_bidx="")
    count = old.count()
    if not dry_run and count:
        old.update(caller="", caller_bidx="")
    return {"calls": count}
