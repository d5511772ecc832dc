"""Every write of the status app: incidents through their lifecycle, and component statuses.

A component's status is never set by hand in isolation: it follows from the published,
unresolved incidents that touch it (the worst impact wins) or is operational. Each change is
recorded in the component's history with who or what changed it and why, and audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import actor_ref_for, audit_record
from core.errors import ApplicationError
from core.validation import clean_text
from status import notify, selectors
from status.models import (
    GRAVITY,
    Component,
    ComponentStatus,
    ComponentStatusChange,
    Incident,
    IncidentComponent,
    IncidentNote,
    IncidentState,
    IncidentTask,
    IncidentUpdate,
    Maintenance,
    MaintenanceState,
    Severity,
)

MAX_TITLE = 200
MAX_BODY = 5000
MAX_REASON = 300
# A time this close to now is "now" (the form was filled in a minute ago): no reason needed.
BACKDATE_TOLERANCE = dt.timedelta(minutes=2)
# The lifecycle only moves forward; "resolved" is the end (closing needs a postmortem for
# the severities that ask for one).
ORDER = [
    IncidentState.INVESTIGATING,
    IncidentState.IDENTIFIED,
    IncidentState.MONITORING,
    IncidentState.RESOLVED,
]


def _impacts(components: Any) -> list[tuple[Component, str]]:
    """[(component, impact)] from a mapping or pairs; every impact a non-operational status."""
    pairs = list(components.items() if isinstance(components, dict) else components or [])
    if not pairs:
        raise ApplicationError(
            _("Choose at least one affected component."),
            fields={"components": [_("Choose at least one affected component.")]},
        )
    allowed = set(ComponentStatus.values) - {ComponentStatus.OPERATIONAL}
    seen: dict[int, tuple[Component, str]] = {}
    for component, impact in pairs:
        if not isinstance(component, Component) or impact not in allowed:
            raise ApplicationError(
                _("Each affected component needs an impact: degraded, partial or major outage."),
                fields={"components": [_("Choose an impact for each component.")]},
            )
        seen[component.pk] = (component, impact)
    return list(seen.values())


def _public_change() -> None:
    """The status page's cached summary is dropped when this transaction commits."""
    transaction.on_commit(selectors.forget_summary)


def _actor_ref(actor: Any) -> str:
    """A user or a system reference such as "system:alertmanager" (audit's actor refs)."""
    return actor_ref_for(actor)


# ------------------------------------------------------------------ when things happened


def _is_person(actor: Any) -> bool:
    return bool(getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None))


def _time_error(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, fields={field: [message]}, code="bad_time")


def _not_future(when: dt.datetime, now: dt.datetime, field: str) -> None:
    if when > now:
        raise _time_error(field, _("This time is in the future: give the time it happened."))


def _not_before_components(when: dt.datetime, components: Iterable[Component], field: str):
    """An outage of a component cannot begin before the component was on the page (its
    uptime has nothing to count before then)."""
    born = max((c.created_at for c in components), default=None)
    if born is not None and when < born:
        raise _time_error(
            field,
            _("This is before the component existed (%(when)s).")
            % {"when": timezone.localtime(born).strftime("%Y-%m-%d %H:%M")},
        )


def _backdate_reason(actor: Any, reason: Any, field: str, *, required: bool) -> str:
    """A person who dates something back says why (the audit keeps it); a system caller
    (an alert's own start, the demo) has its evidence elsewhere."""
    return clean_text(
        reason,
        field,
        _("The reason for the earlier time"),
        limit=MAX_REASON,
        required=required and _is_person(actor),
    )


def _audit_happened(
    *, actor: Any, incident: Incident, what: str, old: dt.datetime, new: dt.datetime, reason: str
) -> None:
    audit_record(
        action="status.incident_backdated",
        actor=actor,
        target=incident,
        data={"what": what, "from": old.isoformat(), "to": new.isoformat(), "reason": reason},
    )


def _move_history(rows: Iterable[ComponentStatusChange], when: dt.datetime) -> None:
    """Move an incident's status changes (its start or its resolution) to when they happened,
    each kept between its component's previous and next change: the uptime bars read the
    history in order, and another incident's changes stay where they were."""
    for row in rows:
        others = ComponentStatusChange.objects.filter(component_id=row.component_id).exclude(
            pk=row.pk
        )
        before = (
            others.filter(Q(at__lt=row.at) | Q(at=row.at, pk__lt=row.pk))
            .order_by("-at", "-pk")
            .values_list("at", flat=True)
            .first()
        )
        after = (
            others.filter(Q(at__gt=row.at) | Q(at=row.at, pk__gt=row.pk))
            .order_by("at", "pk")
            .values_list("at", flat=True)
            .first()
        )
        moved = max(when, before) if before else when
        moved = min(moved, after) if after else moved
        ComponentStatusChange.objects.filter(pk=row.pk).update(at=moved)
        if after is None:
            Component.objects.filter(pk=row.component_id).update(status_since=moved)


# ------------------------------------------------------------------------- component status


def components_refresh(
    *,
    components: Iterable[Component],
    actor: Any,
    reason: str,
    incident: Incident | None = None,
    at: dt.datetime | None = None,
) -> list[ComponentStatusChange]:
    """Set each component to the worst impact of the published, unresolved incidents on it
    (under maintenance during a window in progress; an outage is graver than maintenance).

    Writes a history row and an audit event for each component whose status changes, at
    `at` when the change happened earlier than now (an incident dated back), but never
    before the component's last recorded change: the history stays in order.
    """
    _public_change()
    components = list(components)
    if not components:
        return []
    worst: dict[int, str] = {
        pk: ComponentStatus.MAINTENANCE
        for pk in Maintenance.components.through.objects.filter(
            component__in=components, maintenance__state=MaintenanceState.IN_PROGRESS
        ).values_list("component_id", flat=True)
    }
    for row in IncidentComponent.objects.filter(
        component__in=components,
        incident__published_at__isnull=False,
        incident__resolved_at__isnull=True,
    ).values("component_id", "impact"):
        current = worst.get(row["component_id"], ComponentStatus.OPERATIONAL)
        if GRAVITY[row["impact"]] > GRAVITY[current]:
            worst[row["component_id"]] = row["impact"]
    now = timezone.now()
    last: dict[int, dt.datetime] = {}
    if at is not None and at < now:
        last = dict(
            ComponentStatusChange.objects.filter(component__in=components)
            .values("component_id")
            .annotate(last=Max("at"))
            .values_list("component_id", "last")
        )
    changes = []
    locked = Component.objects.select_for_update().filter(pk__in=[c.pk for c in components])
    for component in locked.order_by("pk"):
        wanted = worst.get(component.pk, ComponentStatus.OPERATIONAL)
        if component.status == wanted:
            continue
        when = now
        if at is not None and at < now:
            when = max(at, last.get(component.pk, at), component.created_at)
        changes.append(
            ComponentStatusChange(
                component=component,
                from_status=component.status,
                to_status=wanted,
                at=when,
                changed_by=_actor_ref(actor),
                reason=reason[:300],
                incident=incident,
            )
        )
        Component.objects.filter(pk=component.pk).update(status=wanted, status_since=when)
        audit_record(
            action="status.component_changed",
            actor=actor,
            target=component,
            data={
                "from": component.status,
                "to": wanted,
                "incident": incident.pk if incident else None,
            },
        )
    ComponentStatusChange.objects.bulk_create(changes)
    return changes


# ------------------------------------------------------------------------------- incidents


@transaction.atomic
def incident_open(
    *,
    actor: Any,
    severity: Severity,
    title_en: Any,
    title_zh: Any,
    components: Any,
    body_en: Any,
    body_zh: Any,
    cause_en: Any = "",
    cause_zh: Any = "",
    expected_recovery: dt.datetime | None = None,
    publish: bool = True,
    started_at: dt.datetime | None = None,
    started_reason: Any = "",
) -> Incident:
    """Open an incident: its playbook is copied as tasks, and if published at once its
    components change status and its first update is public.

    A draft (publish=False, e.g. from an alert rule) changes nothing public until
    incident_publish. `started_at` dates an outage noticed late back to when it began (not in
    the future, not before its components existed; a person says why, audited): the page,
    the uptime history and the compensation assessment count from then.
    """
    _public_change()
    if not isinstance(severity, Severity):
        raise ApplicationError(
            _("Choose a severity."), fields={"severity": [_("Choose a severity.")]}
        )
    impacts = _impacts(components)
    now = timezone.now()
    reason = ""
    if started_at is not None:
        _not_future(started_at, now, "started_at")
        if _is_person(actor):
            _not_before_components(started_at, [c for c, _i in impacts], "started_at")
        reason = _backdate_reason(
            actor, started_reason, "started_reason", required=started_at < now - BACKDATE_TOLERANCE
        )
    started_at = started_at or now
    incident = Incident.objects.create(
        title_en=clean_text(title_en, "title_en", _("The English title"), limit=MAX_TITLE),
        title_zh=clean_text(title_zh, "title_zh", _("The Chinese title"), limit=MAX_TITLE),
        severity=severity,
        cause_en=clean_text(cause_en, "cause_en", _("The cause"), limit=MAX_BODY, required=False),
        cause_zh=clean_text(cause_zh, "cause_zh", _("The cause"), limit=MAX_BODY, required=False),
        expected_recovery=expected_recovery,
        started_at=started_at,
        published_at=now if publish else None,
        created_by=_actor_ref(actor),
        created_at=now,
    )
    IncidentComponent.objects.bulk_create(
        [IncidentComponent(incident=incident, component=c, impact=i) for c, i in impacts]
    )
    IncidentTask.objects.bulk_create(
        [
            IncidentTask(
                incident=incident,
                position=s.position,
                kind=s.kind,
                text=s.text,
                text_zh=s.text_zh,
            )
            for s in severity.steps.all()
        ]
    )
    IncidentUpdate.objects.create(
        incident=incident,
        state=incident.state,
        body_en=clean_text(body_en, "body_en", _("The English update"), limit=MAX_BODY),
        body_zh=clean_text(body_zh, "body_zh", _("The Chinese update"), limit=MAX_BODY),
        at=started_at,  # the investigation began with the outage ...
        posted_at=now,  # ... even when it was typed later
        author=_actor_ref(actor),
    )
    audit_record(
        action="status.incident_opened",
        actor=actor,
        target=incident,
        data={
            "severity": severity.key,
            "components": [c.pk for c, _i in impacts],
            "published": publish,
        },
    )
    if started_at < now - BACKDATE_TOLERANCE:
        _audit_happened(
            actor=actor, incident=incident, what="start", old=now, new=started_at, reason=reason
        )
    if publish:
        components_refresh(
            components=[c for c, _i in impacts],
            actor=actor,
            reason=f"incident {incident.pk} opened",
            incident=incident,
            at=started_at,
        )
        notify.mark(incident)
    return incident


@transaction.atomic
def incident_publish(*, incident: Incident, actor: Any) -> Incident:
    """Publish a draft: its components change status and its updates become public."""
    _public_change()
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if locked.published_at is not None:
        return locked
    if locked.resolved_at is not None:
        raise ApplicationError(_("A resolved draft is not published."), code="resolved")
    locked.published_at = timezone.now()
    locked.save(update_fields=["published_at"])
    audit_record(action="status.incident_published", actor=actor, target=locked)
    components_refresh(
        components=list(locked.components.all()),
        actor=actor,
        reason=f"incident {locked.pk} published",
        incident=locked,
        at=locked.started_at,  # the outage began then, draft or not
    )
    notify.mark(locked)
    return locked


@transaction.atomic
def incident_update(
    *,
    incident: Incident,
    actor: Any,
    state: Any,
    body_en: Any,
    body_zh: Any,
    cause_en: Any = None,
    cause_zh: Any = None,
    expected_recovery: dt.datetime | str | None = "keep",
    at: dt.datetime | None = None,
    reason: Any = "",
) -> IncidentUpdate:
    """Post a public update, moving the lifecycle forward (or keeping its state).

    Resolving restores the incident's components (unless another incident still touches
    them). The cause and the expected recovery change only when given. `at` records an
    update after the fact (e.g. when the outage really ended): not before the start or the
    latest update, not in the future; a person says why (audited).
    """
    _public_change()
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if locked.state == IncidentState.RESOLVED:
        raise ApplicationError(_("This incident is resolved."), code="resolved")
    if state not in IncidentState.values:
        raise ApplicationError(
            _("Choose a state."), fields={"state": [_("Choose a state.")]}, code="bad_state"
        )
    if ORDER.index(state) < ORDER.index(locked.state):
        raise ApplicationError(
            _("An incident moves forward: it is %(state)s already.")
            % {"state": IncidentState(locked.state).label},
            fields={"state": [_("Choose this state or a later one.")]},
            code="backwards",
        )
    posted = now = timezone.now()
    why = ""
    if at is not None:
        if at > now or at < locked.started_at:
            raise ApplicationError(
                _("An update happens between the incident's start and now."),
                fields={"at": [_("Give a time between the start and now.")]},
                code="bad_time",
            )
        latest = locked.updates.aggregate(latest=Max("at"))["latest"]
        if latest is not None and at < latest:
            raise _time_error(
                "at",
                _("Updates happen in order: give a time after the latest update (%(when)s).")
                % {"when": timezone.localtime(latest).strftime("%Y-%m-%d %H:%M")},
            )
        why = _backdate_reason(actor, reason, "reason", required=at < now - BACKDATE_TOLERANCE)
        now = at
    update = IncidentUpdate.objects.create(
        incident=locked,
        state=state,
        body_en=clean_text(body_en, "body_en", _("The English update"), limit=MAX_BODY),
        body_zh=clean_text(body_zh, "body_zh", _("The Chinese update"), limit=MAX_BODY),
        at=now,
        posted_at=posted,
        author=_actor_ref(actor),
    )
    if now < posted - BACKDATE_TOLERANCE:
        _audit_happened(
            actor=actor,
            incident=locked,
            what=f"update:{update.pk}",
            old=posted,
            new=now,
            reason=why,
        )
    changed = ["state"]
    if cause_en is not None:
        locked.cause_en = clean_text(
            cause_en, "cause_en", _("The cause"), limit=MAX_BODY, required=False
        )
        changed.append("cause_en")
    if cause_zh is not None:
        locked.cause_zh = clean_text(
            cause_zh, "cause_zh", _("The cause"), limit=MAX_BODY, required=False
        )
        changed.append("cause_zh")
    if expected_recovery != "keep":
        locked.expected_recovery = expected_recovery
        changed.append("expected_recovery")
    previous, locked.state = locked.state, state
    if state == IncidentState.RESOLVED:
        locked.resolved_at = now
        changed.append("resolved_at")
    locked.save(update_fields=changed)
    audit_record(
        action="status.incident_updated",
        actor=actor,
        target=locked,
        data={"from": previous, "to": state, "update": update.pk},
    )
    if state == IncidentState.RESOLVED and locked.published_at is not None:
        components_refresh(
            components=list(locked.components.all()),
            actor=actor,
            reason=f"incident {locked.pk} resolved",
            incident=locked,
            at=now,
        )
    if locked.published_at is not None:
        notify.mark(locked)
    return update


@transaction.atomic
def incident_happened_at(
    *,
    incident: Incident,
    actor: Any,
    when: dt.datetime | None,
    reason: Any,
    update: IncidentUpdate | None = None,
) -> Incident:
    """Correct when something happened: the incident's start (no `update`) or the time of one
    of its updates (the resolution's moves the resolution with it).

    For an outage noticed late: the public page shows the corrected time (the typed one stays
    as "posted at"), the uptime history moves with it, and a new assessment counts from it.
    Bounded: not in the future, not before the components existed, and in order (start <=
    each update <= the resolution, updates in order); the old and new time and the reason
    are audited.
    """
    _public_change()
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    field = "when"
    if when is None:
        raise _time_error(field, _("Give the time it happened."))
    why = clean_text(reason, "reason", _("The reason for the change"), limit=MAX_REASON)
    _not_future(when, timezone.now(), field)
    updates = list(locked.updates.order_by("at", "pk"))
    if update is not None and update.pk not in {u.pk for u in updates}:
        raise ApplicationError(_("No such update on this incident."), code="not_found")
    opening = updates[0] if updates and updates[0].at == locked.started_at else None
    if update is None:
        _not_before_components(when, locked.components.all(), field)
        later = [u.at for u in updates if u is not opening]
        if later and when > min(later):
            raise _time_error(
                field,
                _("The start comes before every update (the first is at %(when)s).")
                % {"when": timezone.localtime(min(later)).strftime("%Y-%m-%d %H:%M")},
            )
        old, locked.started_at = locked.started_at, when
        locked.save(update_fields=["started_at"])
        if opening is not None:
            IncidentUpdate.objects.filter(pk=opening.pk).update(at=when)
        _move_history(
            ComponentStatusChange.objects.filter(
                incident=locked,
                reason__in=[f"incident {locked.pk} opened", f"incident {locked.pk} published"],
            ),
            when,
        )
        what = "start"
    else:
        index = [u.pk for u in updates].index(update.pk)
        current = updates[index]
        if when < locked.started_at:
            raise _time_error(field, _("An update cannot come before the incident's start."))
        if index > 0 and when < updates[index - 1].at:
            raise _time_error(
                field,
                _("Updates happen in order: this one comes after %(when)s.")
                % {"when": timezone.localtime(updates[index - 1].at).strftime("%Y-%m-%d %H:%M")},
            )
        if index + 1 < len(updates) and when > updates[index + 1].at:
            raise _time_error(
                field,
                _("Updates happen in order: this one comes before %(when)s.")
                % {"when": timezone.localtime(updates[index + 1].at).strftime("%Y-%m-%d %H:%M")},
            )
        old = current.at
        IncidentUpdate.objects.filter(pk=current.pk).update(at=when)
        what = f"update:{current.pk}"
        if current.state == IncidentState.RESOLVED and locked.resolved_at is not None:
            locked.resolved_at = when
            locked.save(update_fields=["resolved_at"])
            _move_history(
                ComponentStatusChange.objects.filter(
                    incident=locked, reason=f"incident {locked.pk} resolved"
                ),
                when,
            )
    # A corrected time shows on the page at once (the cached summary is dropped) but is no
    # news to send subscribers.
    _audit_happened(actor=actor, incident=locked, what=what, old=old, new=when, reason=why)
    return locked


@transaction.atomic
def incident_postmortem(*, incident: Incident, actor: Any, text: Any) -> Incident:
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    locked.postmortem = clean_text(text, "postmortem", _("The postmortem"), limit=20000)
    locked.save(update_fields=["postmortem"])
    audit_record(action="status.postmortem_written", actor=actor, target=locked)
    return locked


@transaction.atomic
def report_publish(*, incident: Incident, actor: Any, done_en: Any, done_zh: Any) -> Incident:
    """Publish (or correct) the public report of a resolved incident: its timeline, cause, what
    was done and the compensation offered in aggregate (status.reports)."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if locked.published_at is None or locked.resolved_at is None:
        raise ApplicationError(
            _("Publish a report once the incident is public and resolved."), code="not_resolved"
        )
    if not (locked.cause_en.strip() and locked.cause_zh.strip()):
        raise ApplicationError(
            _("Give the cause in English and Chinese (in an update) before the report."),
            code="no_cause",
        )
    locked.report_done_en = clean_text(done_en, "done_en", _("What we did (English)"), limit=10000)
    locked.report_done_zh = clean_text(done_zh, "done_zh", _("What we did (Chinese)"), limit=10000)
    first = locked.report_published_at is None
    locked.report_published_at = locked.report_published_at or timezone.now()
    locked.save(update_fields=["report_done_en", "report_done_zh", "report_published_at"])
    audit_record(
        action="status.report_published" if first else "status.report_corrected",
        actor=actor,
        target=locked,
    )
    _public_change()
    return locked


@transaction.atomic
def incident_close(*, incident: Incident, actor: Any) -> Incident:
    """Close a resolved incident; the severities that ask for one need a postmortem first."""
    locked = Incident.objects.select_for_update().select_related("severity").get(pk=incident.pk)
    if locked.closed_at is not None:
        return locked
    if locked.state != IncidentState.RESOLVED:
        raise ApplicationError(_("Resolve the incident before closing it."), code="not_resolved")
    if locked.severity.requires_postmortem and not locked.postmortem.strip():
        raise ApplicationError(
            _("A %(severity)s incident needs a postmortem before it closes.")
            % {"severity": locked.severity.key.upper()},
            fields={"postmortem": [_("Write the postmortem first.")]},
            code="postmortem_required",
        )
    locked.closed_at = timezone.now()
    locked.save(update_fields=["closed_at"])
    audit_record(action="status.incident_closed", actor=actor, target=locked)
    return locked


@transaction.atomic
def incident_task_set(*, task: IncidentTask, actor: Any, done: bool) -> IncidentTask:
    """Tick (or untick) a playbook task on an incident."""
    locked = IncidentTask.objects.select_for_update().get(pk=task.pk)
    if bool(locked.done_at) == bool(done):
        return locked
    locked.done_at, locked.done_by = (timezone.now(), actor) if done else (None, None)
    locked.save(update_fields=["done_at", "done_by"])
    audit_record(
        action="status.task_done" if done else "status.task_reopened",
        actor=actor,
        target=locked.incident,
        data={"task": locked.pk},
    )
    return locked


@transaction.atomic
def incident_note_add(*, incident: Incident, actor: Any, body: Any) -> IncidentNote:
    """An internal note (never public)."""
    note = IncidentNote.objects.create(
        incident=incident,
        author=actor,
        body=clean_text(body, "body", _("The note"), limit=MAX_BODY),
    )
    audit_record(action="status.note_added", actor=actor, target=incident, data={"note": note.pk})
    return note


# ----------------------------------------------------------------------------- maintenance


@transaction.atomic
def maintenance_schedule(
    *,
    actor: Any,
    title_en: Any,
    title_zh: Any,
    components: Iterable[Component],
    starts_at: dt.datetime | None,
    ends_at: dt.datetime | None,
    body_en: Any = "",
    body_zh: Any = "",
) -> Maintenance:
    """Plan a window; the periodic tick starts and ends it (and sends the reminders)."""
    _public_change()
    components = list(components or [])
    if not components:
        raise ApplicationError(
            _("Choose at least one component."),
            fields={"components": [_("Choose at least one component.")]},
        )
    if starts_at is None or ends_at is None or ends_at <= starts_at:
        raise ApplicationError(
            _("A window ends after it starts."),
            fields={"ends_at": [_("Choose an end after the start.")]},
        )
    if ends_at <= timezone.now():
        raise ApplicationError(
            _("The window is over already."), fields={"ends_at": [_("Choose a future end.")]}
        )
    window = Maintenance.objects.create(
        title_en=clean_text(title_en, "title_en", _("The English title"), limit=MAX_TITLE),
        title_zh=clean_text(title_zh, "title_zh", _("The Chinese title"), limit=MAX_TITLE),
        body_en=clean_text(body_en, "body_en", _("The details"), limit=MAX_BODY, required=False),
        body_zh=clean_text(body_zh, "body_zh", _("The details"), limit=MAX_BODY, required=False),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=_actor_ref(actor),
    )
    window.components.set(components)
    audit_record(
        action="status.maintenance_scheduled",
        actor=actor,
        target=window,
        data={"components": [c.pk for c in components]},
    )
    return window


@transaction.atomic
def maintenance_cancel(*, maintenance: Maintenance, actor: Any) -> Maintenance:
    """Cancel a window; one in progress ends at once (its components come back)."""
    _public_change()
    locked = Maintenance.objects.select_for_update().get(pk=maintenance.pk)
    if locked.state in (MaintenanceState.COMPLETED, MaintenanceState.CANCELLED):
        return locked
    was_running = locked.state == MaintenanceState.IN_PROGRESS
    locked.state = MaintenanceState.CANCELLED
    locked.save(update_fields=["state"])
    audit_record(action="status.maintenance_cancelled", actor=actor, target=locked)
    if was_running:
        components_refresh(
            components=list(locked.components.all()),
            actor=actor,
            reason=f"maintenance {locked.pk} cancelled",
        )
    return locked


@transaction.atomic
def maintenance_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Start the windows whose start has come, end those whose end has passed (run every
    minute by Celery beat). Components follow; each change is in their history."""
    _public_change()
    now = now or timezone.now()
    started = list(
        Maintenance.objects.select_for_update(skip_locked=True).filter(
            state=MaintenanceState.SCHEDULED, starts_at__lte=now, ends_at__gt=now
        )
    )
    ended = list(
        Maintenance.objects.select_for_update(skip_locked=True).filter(
            state__in=[MaintenanceState.SCHEDULED, MaintenanceState.IN_PROGRESS],
            ends_at__lte=now,
        )
    )
    for window, state in [(w, MaintenanceState.IN_PROGRESS) for w in started] + [
        (w, MaintenanceState.COMPLETED) for w in ended
    ]:
        window.state = state
        window.save(update_fields=["state"])
        audit_record(
            action="status.maintenance_started"
            if state == MaintenanceState.IN_PROGRESS
            else "status.maintenance_completed",
            actor="system:maintenance",
            target=window,
        )
        components_refresh(
            components=list(window.components.all()),
            actor="system:maintenance",
            reason=f"maintenance {window.pk} "
            + ("started" if state == MaintenanceState.IN_PROGRESS else "ended"),
        )
    return {"started": len(started), "ended": len(ended)}
