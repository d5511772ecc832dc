"""Writes of a machine's own reports: its alarms and the live status they set (issue 23).

A batch of one machine is applied under the lock of its status row, so two batches of the
same machine (a gateway's retry racing its first try) are applied one after the other: the
second sees the first's alarms and stores none of them again. Alarms are stored once per
(unit, alarm id); the unique constraint stands behind the lock.

What the alarms mean for tickets is intake's concern (intake.alarms): this module stores
them and keeps the state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from equipment.models import Alarm, MachineState, Severity, Unit, UnitStatus

# The state an alarm of a severity puts a machine in, when the alarm does not say.
STATE_OF_SEVERITY = {
    Severity.CRITICAL: MachineState.STOPPED,
    Severity.MAJOR: MachineState.WARNING,
}

PARAMETERS = ("laser_power_w", "temperature_c", "wire_feed_m_min", "gas_flow_l_min")


@dataclass
class Recorded:
    """What a batch changed: the alarms stored now (in the machine's order of time), how
    many were already stored, and the machine's status after it."""

    new: list[Alarm] = field(default_factory=list)
    duplicates: int = 0
    status: UnitStatus | None = None


def _status_locked(unit: Unit, now: dt.datetime, first: dt.datetime) -> UnitStatus:
    """The unit's status row, locked for this transaction; created when the unit first
    reports, "running" as of its first report's time (so that report's alarms move it)."""
    UnitStatus.objects.bulk_create(
        [UnitStatus(unit=unit, state_since=first, last_seen_at=now)], ignore_conflicts=True
    )
    return UnitStatus.objects.select_for_update().get(pk=unit.pk)


@transaction.atomic
def alarms_record(
    *, unit: Unit, alarms: list[dict[str, Any]], state: str = "", now: dt.datetime
) -> Recorded:
    """Store the batch's new alarms and move the machine's state.

    `alarms` are checked already (intake.alarms.check_batch): `alarm_id`, `code`,
    `severity`, `occurred_at`, optional `message`, `state`, the four parameters and `extra`.
    An alarm moves the state only when it is not older than the state it would replace (a
    late retry of an old alarm does not stop a machine that runs again); its own `state`
    ("running": the machine cleared it) wins over the one its severity implies. `state`
    alone (a heartbeat) sets the state as of now.
    """
    status = _status_locked(unit, now, min([now, *(alarm["occurred_at"] for alarm in alarms)]))
    wanted = {}
    for alarm in alarms:
        wanted.setdefault(alarm["alarm_id"], alarm)  # twice in one batch: the first counts
    known = set(
        Alarm.objects.filter(unit=unit, alarm_id__in=list(wanted)).values_list(
            "alarm_id", flat=True
        )
    )
    fresh = sorted(
        (alarm for alarm_id, alarm in wanted.items() if alarm_id not in known),
        key=lambda alarm: (alarm["occurred_at"], alarm["alarm_id"]),
    )
    rows = [
        Alarm(
            unit=unit,
            alarm_id=alarm["alarm_id"],
            code=alarm["code"],
            severity=alarm["severity"],
            message=alarm.get("message", ""),
            occurred_at=alarm["occurred_at"],
            received_at=now,
            extra=alarm.get("extra") or {},
            **{name: alarm.get(name) for name in PARAMETERS},
        )
        for alarm in fresh
    ]
    Alarm.objects.bulk_create(rows)
    for alarm in fresh:
        moved = alarm.get("state") or STATE_OF_SEVERITY.get(alarm["severity"])
        if moved and alarm["occurred_at"] >= status.state_since:
            if moved != status.state:
                status.state_since = alarm["occurred_at"]
            status.state = moved
        if status.last_alarm_at is None or alarm["occurred_at"] >= status.last_alarm_at:
            status.last_alarm_at = alarm["occurred_at"]
            status.last_alarm_code = alarm["code"]
    if state:
        if state != status.state:
            status.state_since = now
        status.state = state
    status.last_seen_at = now
    status.silent_since = None
    status.save()
    return Recorded(new=rows, duplicates=len(alarms) - len(rows), status=status)


def alarms_expire(*, received_before: Any, dry_run: bool, chunk: int = 10_000) -> dict[str, int]:
    """Retention: alarms received before an instant are deleted, a chunk per transaction
    (a busy fleet stores millions a day; one DELETE of them all would hold its locks and
    its WAL for minutes). The machine's status and the tickets alarms opened stay."""
    old = Alarm.objects.filter(received_at__lt=received_before)
    if dry_run:
        return {"alarms": old.count()}
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(old.order_by("pk").values_list("pk", flat=True)[:chunk])
            if not ids:
                return {"alarms": deleted}
            deleted += Alarm.objects.filter(pk__in=ids).delete()[0]


def unit_mark_silent(*, status: UnitStatus, now: dt.datetime) -> bool:
    """Note that the desk acted on a machine's silence (one ticket per silence: the next
    report clears it). False when the machine reported meanwhile or was marked already."""
    return bool(
        UnitStatus.objects.filter(
            pk=status.pk,
            last_seen_at=status.last_seen_at,
            state=MachineState.RUNNING,
            silent_since__isnull=True,
        ).update(silent_since=now)
    )
