"""Prometheus Alertmanager's webhook (version 4) turned into incidents.

An alert names its component by the label `welddesk_component` (a component key) and may say
`welddesk_severity` (sev1-sev4, default sev3), `welddesk_impact` (degraded, partial_outage,
major_outage; default major_outage) and `welddesk_publish` ("true": published at once; else a
draft for a supervisor). Titles and texts come from the annotations `summary` / `summary_zh`
and `description` / `description_zh`. The alert's fingerprint deduplicates: a resend changes
nothing (a new description becomes a public update); its "resolved" notification resolves the
incident once every alert of the incident has resolved. Alerts without a known component are
counted and ignored (the answer is still 200, or Alertmanager would retry them forever).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.validation import datetime_or_none
from status import services
from status.models import AlertLink, Component, ComponentStatus, IncidentState, Severity

ACTOR = "system:alertmanager"
IMPACTS = {ComponentStatus.DEGRADED, ComponentStatus.PARTIAL_OUTAGE, ComponentStatus.MAJOR_OUTAGE}
MAX_ALERTS = 500


def _bad(message: str) -> ApplicationError:
    return ApplicationError(message, code="bad_payload")


def _strings(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def parse(payload: Any) -> list[dict]:
    """Check the webhook's shape; return its alerts (each with labels, annotations, times)."""
    if not isinstance(payload, dict) or payload.get("version") != "4":
        raise _bad("Expected an Alertmanager webhook payload of version 4.")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts or len(alerts) > MAX_ALERTS:
        raise _bad(f"alerts must be a list of 1 to {MAX_ALERTS} alerts.")
    checked = []
    for n, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise _bad(f"alerts[{n}] must be an object.")
        status = alert.get("status")
        labels, annotations = alert.get("labels"), alert.get("annotations", {})
        fingerprint = alert.get("fingerprint")
        starts = datetime_or_none(alert.get("startsAt"))
        if status not in ("firing", "resolved"):
            raise _bad(f"alerts[{n}].status must be firing or resolved.")
        if not _strings(labels) or not _strings(annotations):
            raise _bad(f"alerts[{n}].labels and annotations must be objects of strings.")
        if not isinstance(fingerprint, str) or not 1 <= len(fingerprint) <= 64:
            raise _bad(f"alerts[{n}].fingerprint must be a string of 1 to 64 characters.")
        if starts is None:
            raise _bad(f"alerts[{n}].startsAt must be a date and time.")
        ends = datetime_or_none(alert.get("endsAt"))
        if "endsAt" in alert and ends is None:
            raise _bad(f"alerts[{n}].endsAt must be a date and time.")
        checked.append(
            {
                "status": status,
                "labels": dict(labels),
                "annotations": dict(annotations),
                "fingerprint": fingerprint,
                "starts_at": starts,
                # Alertmanager sends 0001-01-01 while an alert fires.
                "ends_at": ends if ends is not None and ends.year > 1 else None,
            }
        )
    return checked


def receive(payload: Any) -> dict[str, int]:
    """Apply a webhook: open, keep or resolve incidents; count what happened."""
    counts = {"opened": 0, "updated": 0, "resolved": 0, "unchanged": 0, "ignored": 0}
    for alert in parse(payload):
        counts[_apply(alert)] += 1
    return counts


@transaction.atomic
def _apply(alert: dict) -> str:
    link = (
        AlertLink.objects.select_for_update()
        .select_related("incident")
        .filter(fingerprint=alert["fingerprint"])
        .first()
    )
    now = timezone.now()
    if alert["status"] == "firing":
        if link is not None and link.firing and link.incident.is_active:
            link.last_seen_at = now
            link.save(update_fields=["last_seen_at"])
            return _update_if_new(link.incident, alert["annotations"])
        component = Component.objects.filter(key=alert["labels"].get("welddesk_component")).first()
        if component is None:
            return "ignored"
        incident = services.incident_open(actor=ACTOR, **_incident_fields(alert, component))
        AlertLink.objects.update_or_create(
            fingerprint=alert["fingerprint"],
            defaults={
                "alertname": alert["labels"].get("alertname", "")[:200],
                "incident": incident,
                "firing": True,
                "starts_at": alert["starts_at"],
                "ends_at": None,
                "last_seen_at": now,
            },
        )
        return "opened"
    # resolved
    if link is None or not link.firing:
        return "unchanged" if link is not None else "ignored"
    link.firing, link.ends_at, link.last_seen_at = False, alert["ends_at"] or now, now
    link.save(update_fields=["firing", "ends_at", "last_seen_at"])
    incident = link.incident
    still_firing = incident.alerts.filter(firing=True).exists()
    if still_firing or incident.state == IncidentState.RESOLVED:
        return "unchanged"
    annotations = alert["annotations"]
    services.incident_update(
        incident=incident,
        actor=ACTOR,
        state=IncidentState.RESOLVED,
        body_en=annotations.get("resolved") or "The monitoring shows the service is back.",
        body_zh=annotations.get("resolved_zh") or "监控显示服务已恢复。",
    )
    return "resolved"


def _update_if_new(incident, annotations: dict) -> str:
    """A resend with a new description (the rule's text changed, e.g. a new figure) becomes a
    public update of the incident, in the state it is in; an identical resend changes nothing."""
    text = annotations.get("description", "").strip()
    latest = incident.updates.order_by("-at", "-pk").first()
    if not text or latest is None or text == latest.body_en:
        return "unchanged"
    services.incident_update(
        incident=incident,
        actor=ACTOR,
        state=incident.state,
        body_en=text[:5000],
        body_zh=(annotations.get("description_zh") or latest.body_zh)[:5000],
    )
    return "updated"


def _incident_fields(alert: dict, component: Component) -> dict:
    labels, annotations = alert["labels"], alert["annotations"]
    severity = (
        Severity.objects.filter(key=labels.get("welddesk_severity", "sev3")).first()
        or Severity.objects.order_by("-rank").first()
    )
    impact = labels.get("welddesk_impact", ComponentStatus.MAJOR_OUTAGE)
    if impact not in IMPACTS:
        impact = ComponentStatus.MAJOR_OUTAGE
    name = labels.get("alertname", "Alert")
    summary = annotations.get("summary") or f"{name}: {component.name_en}"
    summary_zh = annotations.get("summary_zh") or f"{component.name_zh}：监控告警"
    description = (
        annotations.get("description") or "Our monitoring raised an alert; we are looking into it."
    )
    description_zh = annotations.get("description_zh") or "监控系统发出告警，我们正在调查。"
    return {
        "severity": severity,
        "title_en": summary[:200],
        "title_zh": summary_zh[:200],
        "components": {component: impact},
        "body_en": description[:5000],
        "body_zh": description_zh[:5000],
        "publish": labels.get("welddesk_publish", "").lower() == "true",
        "started_at": min(alert["starts_at"], timezone.now()),
    }
