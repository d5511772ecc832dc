"""Failover drills: scheduled monthly per hotline, run end to end against the running desk.

A run marks the line down the way monitoring would (a firing alert to the desk's own
Alertmanager webhook, over HTTP), then checks, with timings, that the incident is on the
public status page, that a customer of the line's region sees the banner, and how long the
first notice took: the seconds from the alert to the last of its messages written to the
outbox (the desk's own clock on the rows; the drill runs no notify tick of its own, so it
measures what the desk does). Above FIRST_NOTICE_LIMIT_SECONDS the drill fails. Then it marks
the line up (the alert resolves) and checks the line is operational again. The measured
recovery time is from marking the line down to seeing it operational.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from notifications.selectors import written_about
from status import selectors
from status.models import Component, ComponentKind, Drill, DrillOutcome, Incident

# The first notice of an outage reaches the outbox within this many seconds of the alert, or
# the drill fails (issue 20: "at once"; the quiet-moment wait used to make it a minute).
FIRST_NOTICE_LIMIT_SECONDS = 30.0


def _first_tuesday(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    return day + dt.timedelta(days=(1 - day.weekday()) % 7)


@transaction.atomic
def drills_schedule(*, now: dt.datetime | None = None) -> int:
    """Plan next month's drill for every hotline (first Tuesday, 02:00): idempotent."""
    now = timezone.localtime(now or timezone.now())
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    when = timezone.make_aware(
        dt.datetime.combine(_first_tuesday(year, month), dt.time(2, 0)),
        timezone.get_current_timezone(),
    )
    created = 0
    for component in Component.objects.filter(kind=ComponentKind.HOTLINE):
        _drill, new = Drill.objects.get_or_create(component=component, scheduled_for=when)
        created += new
    return created


class Probe:
    """Talks to the running desk over HTTP; reads its database for what HTTP cannot show."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("The desk's address starts with http:// or https://.")
        self.base, self.token, self.timeout = base_url.rstrip("/"), token, timeout

    def alert(self, component: Component, status: str, fingerprint: str) -> dict:
        now = timezone.now().isoformat()
        body = {
            "version": "4",
            "status": status,
            "receiver": "welddesk-drill",
            "alerts": [
                {
                    "status": status,
                    "labels": {
                        "alertname": "WeldDeskFailoverDrill",
                        "welddesk_component": component.key,
                        "welddesk_severity": "sev2",
                        "welddesk_impact": "major_outage",
                        "welddesk_publish": "true",
                    },
                    "annotations": {
                        "summary": f"Failover drill: {component.name_en}",
                        "summary_zh": f"故障切换演练：{component.name_zh}",
                        "description": "This is a scheduled failover drill; the line is "
                        "switched to its backup. Chat and the portal work as usual.",
                        "description_zh": "这是计划内的故障切换演练，线路切换到备用线路。"
                        "在线客服和客户门户照常可用。",
                    },
                    "startsAt": now,
                    "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
                    "fingerprint": fingerprint,
                }
            ],
        }
        request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
            f"{self.base}/api/v1/alerts/alertmanager",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            return json.loads(response.read())

    def summary(self) -> dict:
        request = urllib.request.Request(f"{self.base}/status/api/v1/summary.json")  # noqa: S310
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            return json.loads(response.read())


def first_notice_seconds(incident: Incident, alerted_at: dt.datetime) -> float | None:
    """Seconds from the alert to the last message of the incident's first notice written to
    the outbox (None while it has not gone out).

    The first notice is the lowest version told (keys `status:<id>:v<version>:...`). An
    incident with nobody to tell has no rows: its notice time is when it was marked told.
    """
    rows = written_about(incident, key_prefix=f"status:{incident.pk}:v")
    if rows:
        first = ":".join(rows[0][0].split(":")[:3]) + ":"
        last = max(at for key, at in rows if key.startswith(first))
    else:
        last = (
            Incident.objects.filter(pk=incident.pk)
            .values_list("last_notified_at", flat=True)
            .first()
        )
        if last is None:
            return None
    return round(max((last - alerted_at).total_seconds(), 0.0), 2)


def _wait(check: Callable[[], Any], deadline: float, every: float = 0.5) -> Any:
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)


def drill_run(
    *,
    component: Component,
    base_url: str,
    token: str,
    customer: Any = None,
    limit_seconds: float = 120.0,
    first_notice_limit: float = FIRST_NOTICE_LIMIT_SECONDS,
    actor: str = "system:drill",
    say: Callable[[str], None] = lambda line: None,
) -> Drill:
    """Run one drill and record it (the scheduled one of today if any, else a new record)."""
    now = timezone.now()
    drill = Drill.objects.filter(
        component=component,
        outcome=DrillOutcome.SCHEDULED,
        scheduled_for__date=timezone.localdate(now),
    ).first() or Drill(component=component, scheduled_for=now)
    drill.started_at, drill.run_by = now, actor
    probe = Probe(base_url, token)
    fingerprint = f"drill-{component.key}-{int(now.timestamp())}"
    start = time.monotonic()
    deadline = start + limit_seconds
    timings: dict[str, float | None] = {}
    failures: list[str] = []

    def mark(name: str, ok: Any) -> None:
        timings[name] = round(time.monotonic() - start, 2) if ok else None
        say(f"  {name}: {f'{timings[name]:.2f} s' if ok else 'NOT SEEN'}")
        if not ok:
            failures.append(name)

    say(f"Drill of {component.key}: marking the line down through the alert webhook")
    alerted_at = timezone.now()
    probe.alert(component, "firing", fingerprint)

    def on_page():
        data = probe.summary()
        down = any(
            c["key"] == component.key and c["status"] == "major_outage" for c in data["components"]
        )
        return down and any(component.key in i["components"] for i in data["incidents"])

    mark("incident_on_status_page", _wait(on_page, deadline))
    incident = Incident.objects.filter(alerts__fingerprint=fingerprint).first()
    drill.incident = incident
    if customer is not None:
        selectors.forget_summary()
        mark(
            "banner_for_customer",
            _wait(
                lambda: any(
                    component.name_en in b["title"] or component.name_zh in b["title"]
                    for b in selectors.banners_for(customer)
                ),
                deadline,
            ),
        )
    else:
        failures.append("banner_for_customer (no customer of the region to check)")

    def noticed():
        found = first_notice_seconds(incident, alerted_at) if incident is not None else None
        return None if found is None else (found,)  # 0.0 s is seen too

    seen = _wait(noticed, deadline, every=0.2)
    seconds = seen[0] if seen else None
    timings["first_notice"] = seconds
    if seconds is None:
        say("  first_notice: NOT SEEN")
        failures.append("first_notice")
    else:
        say(f"  first_notice: {seconds:.2f} s after the alert (limit {first_notice_limit:g} s)")
        if seconds > first_notice_limit:
            failures.append(f"first_notice ({seconds:.2f} s, limit {first_notice_limit:g} s)")
    say("Marking the line up again (the alert resolves)")
    probe.alert(component, "resolved", fingerprint)

    def restored():
        data = probe.summary()
        return any(
            c["key"] == component.key and c["status"] == "operational" for c in data["components"]
        )

    mark("line_restored", _wait(restored, deadline))
    drill.ended_at = timezone.now()
    drill.timings = timings
    drill.recovery_seconds = timings.get("line_restored")
    drill.outcome = DrillOutcome.FAILED if failures else DrillOutcome.PASSED
    if failures:
        drill.notes = (
            (drill.notes + "\n" if drill.notes else "") + "Not seen: " + ", ".join(failures)
        )
    drill.save()
    audit_record(
        action="status.drill_run",
        actor=actor,
        target=drill,
        data={"outcome": drill.outcome, "timings": timings},
    )
    say(f"Drill {drill.outcome}: recovery {drill.recovery_seconds} s")
    return drill
