"""The machine-alarm panel on the agents' ticket page (registered in tickets.panels).

Only a ticket a machine opened (channel "machine") has one, so every other ticket page pays
no query for it: its live state, and the alarms that opened and joined the ticket.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from equipment import selectors as equipment_selectors
from intake.alarms import selectors
from tickets.models import Channel

SHOWN = 5


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def state_line(status: Any) -> str:
    """ "Stopped since 2026-12-08 09:14:03 · last report 2026-12-08 09:20:11" """
    if status is None:
        return _("Never reported")
    line = _("%(state)s since %(since)s · last report %(seen)s") % {
        "state": status.get_state_display(),
        "since": _when(status.state_since),
        "seen": _when(status.last_seen_at),
    }
    if status.silent_since:
        line += " · " + _("silent since %(at)s") % {"at": _when(status.silent_since)}
    return line


def alarm_line(alarm: Any) -> str:
    parts = [alarm.get_severity_display()]
    if alarm.message:
        parts.append(alarm.message)
    for name in ("laser_power_w", "temperature_c", "wire_feed_m_min", "gas_flow_l_min"):
        value = getattr(alarm, name)
        if value is not None:
            parts.append(f"{alarm._meta.get_field(name).verbose_name} {value:g}")
    return " · ".join(str(part) for part in parts)


def ticket_alarms(ticket: Any, request: Any) -> dict[str, Any] | None:
    if ticket.channel != Channel.MACHINE or ticket.unit_id is None:
        return None
    status = equipment_selectors.unit_state(ticket.unit)
    rows = [(_("Machine state"), state_line(status), "")]
    for link in selectors.alarm_tickets_of(ticket):
        rows.append(
            (
                link.code,
                _("%(n)s alarms: first %(first)s, last %(last)s")
                % {
                    "n": link.repeats + 1,
                    "first": _when(link.first_at),
                    "last": _when(link.last_at),
                },
                "",
            )
        )
        for alarm in equipment_selectors.alarms_since(
            unit_id=link.unit_id, code=link.code, since=link.first_at, limit=SHOWN
        ):
            rows.append((_when(alarm.occurred_at), alarm_line(alarm), ""))
    return {"title": _("Machine alarms"), "rows": rows, "empty": ""}
