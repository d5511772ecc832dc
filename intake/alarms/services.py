"""Machines that report their own faults (issue 23, point 3).

A machine, or its partner's gateway, posts batches of alarms with an API key of the
`alarms` scope (intake.alarms.api). A batch is checked whole first (`check_batch`: a bad
alarm refuses the batch, nothing of it is stored), then in one transaction:

1. equipment stores the alarms not stored before (once per unit and alarm id) and moves the
   machine's live status (equipment.alarm_services, under the status row's lock, so two
   batches of one machine are applied one after the other);
2. each new alarm is given to the rules (AlarmRule, data kept by supervisors): the rule of
   its code, else a catch-all, decides whether it opens a ticket; a repeat of the unit's
   code within the rule's window of the last one joins the ticket still open for it
   (AlarmTicket) instead of opening another;
3. one audit event tells what the batch did.

A machine that was running and stops reporting opens a "machine silent" ticket when its
contract tier has a SilenceRule (`silent_machines_watch`, every minute).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import ApplicationError
from core.validation import datetime_or_none
from equipment import alarm_services
from equipment import selectors as equipment_selectors
from equipment.models import MachineState, Severity, Unit
from intake.alarms import selectors
from intake.models import AlarmRule, AlarmTicket
from tickets.models import Channel, Kind
from tickets.services.tickets import ticket_open

SILENCE_ACTOR = "system:alarms"
MAX_BATCH = 100
MAX_EXTRA_KEYS = 20
MAX_EXTRA_TEXT = 200
# How far a machine's clock may run ahead of the desk's, and how old an alarm may be.
CLOCK_AHEAD = dt.timedelta(minutes=5)
OLDEST = dt.timedelta(days=30)
# The measured values with columns of their own, and the range a welding cell can report.
PARAMETERS = {
    "laser_power_w": (0.0, 100_000.0),
    "temperature_c": (-50.0, 1_000.0),
    "wire_feed_m_min": (0.0, 100.0),
    "gas_flow_l_min": (0.0, 500.0),
}
FIELDS = {"alarm_id", "code", "severity", "occurred_at", "message", "state", "extra"}
FIELDS |= set(PARAMETERS)
ALARM_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
CODE = re.compile(r"^[A-Za-z0-9._-]{1,20}$")
EXTRA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


@dataclass
class Received:
    """What a batch did: alarms stored now and already stored, tickets opened and joined
    (their references), and the machine's state after it."""

    accepted: int = 0
    duplicates: int = 0
    opened: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    state: str = ""


# ------------------------------------------------------------------- the guard


def _refuse(where: str, message: str) -> ApplicationError:
    return ApplicationError(
        _("The batch was refused: %(where)s: %(why)s") % {"where": where, "why": message},
        code="bad_alarm",
        fields={where: [message]},
    )


def _one_of(values: list[str]) -> str:
    return _("One of: %(values)s.") % {"values": ", ".join(values)}


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _refuse(where, _("A number is expected."))
    if not low <= value <= high:
        raise _refuse(where, _("Between %(low)s and %(high)s.") % {"low": low, "high": high})
    return float(value)


def _extra(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _refuse(where, _("An object of names and values is expected."))
    if len(value) > MAX_EXTRA_KEYS:
        raise _refuse(where, _("At most %(n)s values.") % {"n": MAX_EXTRA_KEYS})
    clean = {}
    for key, item in value.items():
        if not EXTRA_KEY.match(str(key)):
            raise _refuse(where, _("Names have 1-40 letters, digits, '.', '_' or '-'."))
        if item is None or isinstance(item, bool):
            clean[key] = item
        elif isinstance(item, int | float):
            clean[key] = _number(item, f"{where}.{key}", -1e12, 1e12)
        elif isinstance(item, str) and len(item) <= MAX_EXTRA_TEXT:
            clean[key] = item
        else:
            raise _refuse(
                f"{where}.{key}",
                _("A number, true/false or a text of at most %(n)s characters.")
                % {"n": MAX_EXTRA_TEXT},
            )
    return clean


def _alarm(item: Any, where: str, now: dt.datetime) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _refuse(where, _("An alarm object is expected."))
    unknown = set(item) - FIELDS
    if unknown:
        raise _refuse(where, _("Unknown fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    alarm_id = item.get("alarm_id")
    if not isinstance(alarm_id, str) or not ALARM_ID.match(alarm_id):
        raise _refuse(f"{where}.alarm_id", _("1-64 printable characters, no spaces."))
    code = item.get("code")
    if not isinstance(code, str) or not CODE.match(code):
        raise _refuse(f"{where}.code", _("1-20 letters, digits, '.', '_' or '-'."))
    severity = item.get("severity")
    if severity not in Severity.values:
        raise _refuse(f"{where}.severity", _one_of(Severity.values))
    occurred = item.get("occurred_at")
    occurred_at = datetime_or_none(occurred) if isinstance(occurred, str) else None
    if occurred_at is None or timezone.is_naive(occurred_at):
        raise _refuse(f"{where}.occurred_at", _("An ISO 8601 time with its offset."))
    if occurred_at > now + CLOCK_AHEAD:
        raise _refuse(f"{where}.occurred_at", _("In the future: check the machine's clock."))
    if occurred_at < now - OLDEST:
        raise _refuse(f"{where}.occurred_at", _("Older than 30 days."))
    state = item.get("state") or ""
    if state and state not in MachineState.values:
        raise _refuse(f"{where}.state", _one_of(MachineState.values))
    message = item.get("message") or ""
    if not isinstance(message, str) or len(message) > 300:
        raise _refuse(f"{where}.message", _("A text of at most 300 characters."))
    clean = {
        "alarm_id": alarm_id,
        "code": code.upper(),
        "severity": severity,
        "occurred_at": occurred_at,
        "message": message.strip(),
        "state": state,
        "extra": _extra(item.get("extra"), f"{where}.extra"),
    }
    for name, (low, high) in PARAMETERS.items():
        value = item.get(name)
        clean[name] = None if value is None else _number(value, f"{where}.{name}", low, high)
    return clean


def check_batch(payload: Any, *, now: dt.datetime) -> tuple[list[dict[str, Any]], str]:
    """The batch's alarms, checked and cleaned, and the state it reports (a heartbeat).

    `{"alarms": [...], "state": "running"}`: up to MAX_BATCH alarms, the state optional;
    one of them at least. Any fault refuses the whole batch (a 400 naming the alarm and
    field), so a machine never half-reports."""
    if not isinstance(payload, dict):
        raise _refuse("body", _("A JSON object with alarms is expected."))
    unknown = set(payload) - {"alarms", "state"}
    if unknown:
        raise _refuse("body", _("Unknown fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    items = payload.get("alarms", [])
    if not isinstance(items, list):
        raise _refuse("alarms", _("A list of alarms is expected."))
    if len(items) > MAX_BATCH:
        raise _refuse("alarms", _("At most %(n)s alarms a batch.") % {"n": MAX_BATCH})
    state = payload.get("state") or ""
    if state and state not in MachineState.values:
        raise _refuse("state", _one_of(MachineState.values))
    if not items and not state:
        raise _refuse("alarms", _("Send at least one alarm, or the machine's state."))
    return [_alarm(item, f"alarms[{n}]", now) for n, item in enumerate(items)], state


# ------------------------------------------------------------------- the write


def _ticket_text(unit: Unit, alarm: Any) -> tuple[str, str, Any]:
    fault_code = equipment_selectors.fault_code_get(code=alarm.code)
    title = fault_code.title_en if fault_code else alarm.message
    subject = _("Machine alarm %(code)s on %(serial)s") % {
        "code": alarm.code,
        "serial": unit.serial_number,
    }
    if title:
        subject = f"{subject}: {title}"[:200]
    lines = [
        _("The machine reported alarm %(code)s (%(severity)s) at %(at)s, machine time.")
        % {
            "code": alarm.code,
            "severity": alarm.get_severity_display(),
            "at": alarm.occurred_at.isoformat(),
        }
    ]
    if alarm.message:
        lines.append(alarm.message)
    for name in alarm_services.PARAMETERS:
        value = getattr(alarm, name)
        if value is not None:
            lines.append(f"{alarm._meta.get_field(name).verbose_name}: {value:g}")
    for key, value in sorted(alarm.extra.items()):
        lines.append(f"{key}: {value}")
    return subject, "\n".join(lines), fault_code


def _open_or_join(
    *,
    unit: Unit,
    alarm: Any,
    rule: AlarmRule,
    actor: Any,
    received: Received,
    links: dict[str, AlarmTicket | None],
) -> None:
    """Join the open ticket of the unit's code when the alarm is within the rule's window
    of its last one, or open one. `links`: the batch's open tickets by code, read once."""
    if alarm.code not in links:
        links[alarm.code] = selectors.open_alarm_ticket(unit_id=unit.pk, code=alarm.code)
    link = links[alarm.code]
    window = dt.timedelta(minutes=rule.merge_minutes)
    if link is not None and alarm.occurred_at <= link.last_at + window:
        link.repeats += 1
        link.last_at = max(link.last_at, alarm.occurred_at)
        link.save(update_fields=["repeats", "last_at"])
        received.joined.append(link.ticket.reference)
        return
    subject, body, fault_code = _ticket_text(unit, alarm)
    ticket = ticket_open(
        actor=actor,
        organisation=unit.organisation,
        subject=subject,
        body=body,
        unit=unit,
        kind=Kind.FAULT,
        priority=rule.priority,
        channel=Channel.MACHINE,
        fault_report={"fault_code": fault_code} if fault_code else None,
        queue=rule.queue,
        notify_requester=False,
    )
    links[alarm.code] = AlarmTicket.objects.create(
        unit=unit,
        code=alarm.code,
        ticket=ticket,
        rule=rule,
        first_at=alarm.occurred_at,
        last_at=alarm.occurred_at,
    )
    received.opened.append(ticket.reference)


def alarms_receive(
    *, unit: Unit, payload: Any, actor: Any, now: dt.datetime | None = None
) -> Received:
    """Take one batch of a machine's alarms (see the module): check, store, apply the rules,
    audit. The unit is the caller's own (the API looked it up in the key's organisation)."""
    now = now or timezone.now()
    alarms, state = check_batch(payload, now=now)
    with transaction.atomic():
        recorded = alarm_services.alarms_record(unit=unit, alarms=alarms, state=state, now=now)
        received = Received(
            accepted=len(recorded.new), duplicates=recorded.duplicates, state=recorded.status.state
        )
        rules = selectors.active_rules() if recorded.new else []
        links: dict[str, AlarmTicket | None] = {}
        for alarm in recorded.new:
            rule = selectors.rule_for(rules, code=alarm.code, severity=alarm.severity)
            if rule is not None and rule.opens_ticket:
                _open_or_join(
                    unit=unit, alarm=alarm, rule=rule, actor=actor, received=received, links=links
                )
        audit_record(
            action="unit.alarms_received",
            actor=actor,
            target=unit,
            data={
                "accepted": received.accepted,
                "duplicates": received.duplicates,
                "opened": received.opened,
                "joined": len(received.joined),
                "state": received.state,
            },
        )
    return received


# ------------------------------------------------------------------- silent machines


def silent_machines_watch(*, now: dt.datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Open a "machine silent" ticket for each running machine of a watched contract tier
    that has not reported for its rule's time; once per silence (the next report ends it).
    """
    now = now or timezone.now()
    opened = 0
    for rule in selectors.silence_rules():
        heard_before = now - dt.timedelta(minutes=rule.silent_after_minutes)
        for status in equipment_selectors.silent_units(
            tier=rule.contract_tier, heard_before=heard_before, limit=limit
        ):
            with transaction.atomic():
                if not alarm_services.unit_mark_silent(status=status, now=now):
                    continue  # it reported meanwhile, or another watcher marked it
                unit = status.unit
                ticket_open(
                    actor=SILENCE_ACTOR,
                    organisation=unit.organisation,
                    subject=_("Machine silent: %(serial)s has not reported since %(at)s")
                    % {
                        "serial": unit.serial_number,
                        "at": timezone.localtime(status.last_seen_at).strftime("%Y-%m-%d %H:%M"),
                    },
                    body=_(
                        "The machine was running and has sent nothing for %(minutes)s "
                        "minutes: it may be stopped, off the network, or its gateway down. "
                        "Check with the customer."
                    )
                    % {"minutes": rule.silent_after_minutes},
                    unit=unit,
                    kind=Kind.FAULT,
                    priority=rule.priority,
                    channel=Channel.MACHINE,
                    queue=rule.queue,
                    notify_requester=False,
                )
                opened += 1
    return {"opened": opened}
