"""Every write to a ticket: open, reply, change status, priority, fields, assign, merge.

Each service is one transaction: it locks the ticket row, checks the caller's version when
one is given (a stale edit gets 409 instead of overwriting), applies the change and its SLA
consequences, writes the audit row and the outbox rows, and bumps the version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import Organisation, Tier
from accounts.permissions import sees_region
from audit.services import audit_record, audit_record_many
from core.batch import InsertBatch
from core.errors import ApplicationError, Conflict, Forbidden
from core.logging import one_line
from core.models import delete_with_files
from core.queue import batched
from core.realtime import publish_on_commit
from equipment.models import Unit
from tickets.models import (
    ACTIVE_STATUSES,
    Channel,
    FaultReport,
    Kind,
    Message,
    Priority,
    Queue,
    SearchTerm,
    SLATimer,
    Status,
    Tag,
    Ticket,
)
from tickets.services import (
    assignment,
    impact,
    live,
    notify,
    references,
    search_index,
    sla,
)
from tickets.services.attachments_store import attachment_store

# Who may move a ticket from one status to another.
TRANSITIONS: dict[str, set[str]] = {
    Status.NEW: {Status.OPEN, Status.WAITING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
    Status.OPEN: {Status.WAITING, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
    Status.WAITING: {Status.OPEN, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED},
    Status.ON_HOLD: {Status.OPEN, Status.WAITING, Status.RESOLVED, Status.CLOSED},
    Status.RESOLVED: {Status.OPEN, Status.CLOSED},
    Status.CLOSED: set(),
}
# Customers may only close their own ticket or reopen a recently resolved one.
CUSTOMER_TRANSITIONS = {Status.CLOSED, Status.OPEN}
FAULT_FIELDS = (
    "fault_code",
    "laser_power_w",
    "pulse_frequency_hz",
    "pulse_width_ms",
    "wire_feed_speed_m_min",
    "shielding_gas",
    "gas_flow_l_min",
    "material",
    "thickness_mm",
    "seam_speed_mm_s",
)
MAX_BODY = 20_000
# The tier whose SLA targets a customer with priority service gets (the fastest one).
PRIORITY_SERVICE_TIER = Tier.PREMIUM
MAX_TAGS = 10


def is_staff_actor(actor: Any) -> bool:
    """Staff, or the desk itself: a "system:..." actor names server code (never user input),
    e.g. logistics resuming a ticket when its parts are delivered."""
    if isinstance(actor, str):
        return actor.startswith("system:")
    return bool(getattr(actor, "is_staff", False))


def _event(ticket: Ticket, kind: str) -> None:
    publish_on_commit(
        f"ticket.{ticket.pk}",
        {"type": "ticket.changed", "ticket": ticket.reference, "what": kind, "v": ticket.version},
    )
    live.ticket_changed(ticket, kind)


def _clean_subject(subject: str) -> str:
    subject = one_line(subject or "").strip()
    if len(subject) < 3:
        raise ApplicationError(
            _("Describe the problem in a few words."),
            fields={"subject": [_("Enter at least 3 characters.")]},
        )
    if len(subject) > 200:
        raise ApplicationError(
            _("The subject is too long."), fields={"subject": [_("Use at most 200 characters.")]}
        )
    return subject


def _clean_body(body: str, field: str = "body") -> str:
    body = (body or "").strip()
    if not body:
        raise ApplicationError(
            _("Write a message."), fields={field: [_("This field is required.")]}
        )
    if len(body) > MAX_BODY:
        raise ApplicationError(
            _("The message is too long."),
            fields={field: [_("Use at most %(n)s characters.") % {"n": MAX_BODY}]},
        )
    return body


def _clean_choice(value: Any, choices: type, field: str) -> Any:
    if value not in choices.values:
        raise ApplicationError(
            _("Choose a valid %(field)s.") % {"field": field},
            fields={
                field: [_("Choose one of: %(c)s.") % {"c": ", ".join(map(str, choices.values))}]
            },
        )
    return value


def _tags(names: Iterable[str]) -> list[Tag]:
    slugs = []
    for name in names:
        slug = slugify(str(name), allow_unicode=True)[:40]
        if slug and slug not in slugs:
            slugs.append(slug)
    if len(slugs) > MAX_TAGS:
        raise ApplicationError(
            _("Use at most %(n)s tags.") % {"n": MAX_TAGS},
            fields={"tags": [_("Too many tags.")]},
        )
    if not slugs:
        return []
    existing = {t.name: t for t in Tag.objects.filter(name__in=slugs)}
    missing = [Tag(name=s) for s in slugs if s not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=slugs)}
    return [existing[s] for s in slugs]


def _fault_report(ticket: Ticket, data: dict[str, Any]) -> FaultReport:
    unknown = set(data) - set(FAULT_FIELDS) - set(impact.IMPACT_FIELDS)
    if unknown:
        raise ApplicationError(
            _("Unknown fault report fields: %(f)s") % {"f": ", ".join(sorted(unknown))}
        )
    report = FaultReport(ticket=ticket, **{k: v for k, v in data.items() if v not in ("", None)})
    try:
        report.full_clean(exclude=["ticket"])
    except ValidationError as exc:
        raise ApplicationError(
            _("Please correct the fault report."),
            fields={f"fault_report.{k}": [str(m) for m in v] for k, v in exc.message_dict.items()},
        ) from exc
    return report


def _lock(ticket: Ticket | int, expected_version: int | None) -> Ticket:
    pk = ticket.pk if isinstance(ticket, Ticket) else ticket
    locked = (
        Ticket.objects.select_for_update(of=("self",))
        # The unit too: the organisation's webhook events name its serial (notify.py).
        .select_related("sla_policy__calendar", "requester", "assignee", "queue", "unit")
        .get(pk=pk)
    )
    if expected_version is not None and locked.version != expected_version:
        raise Conflict(
            _(
                "Ticket %(ref)s was changed by someone else (version %(theirs)s, yours %(ours)s). "
                "Reload it and try again."
            )
            % {"ref": locked.reference, "theirs": locked.version, "ours": expected_version},
            code="version_conflict",
        )
    return locked


def _save(ticket: Ticket, fields: Iterable[str]) -> None:
    ticket.version += 1
    # Every save re-derives the list's urgency key from the SLA fields (sla.next_due), so no
    # path that moves a due time, pauses or stops the clock can leave the order stale.
    fields = {*fields, *sla.sla_track(ticket), "version", "updated_at"}
    ticket.save(update_fields=sorted(fields))


# ------------------------------------------------------------------- opening


def ticket_open(
    *,
    actor: Any,
    organisation: Organisation,
    subject: str,
    body: str,
    requester: Any = None,
    unit: Unit | None = None,
    kind: str = Kind.FAULT,
    priority: int = Priority.P3,
    channel: str = Channel.PORTAL,
    tags: Sequence[str] = (),
    fault_report: dict[str, Any] | None = None,
    attachments: Sequence[Any] = (),
    now: dt.datetime | None = None,
    queue: Queue | None = None,
    notify_requester: bool = True,
) -> Ticket:
    """Open a ticket: route it, assign it, start its SLA, audit it and tell the requester.

    `queue` skips routing (a channel that knows its queue, e.g. a mailbox mapped to one);
    `notify_requester=False` leaves the acknowledgement to a channel that sends its own
    (e-mail answers the customer's mail, within its loop limits).

    On PostgreSQL the opening costs two statements in its transaction: one draws the
    reference (the year's sequence), the ticket's id and the assignee (`assignment.draw_new`:
    the least-busy member, SKIP LOCKED, stamped and counted in the same statement); one
    writes the ticket, its timers, message, search terms, outbox rows and pending audit
    event together (`core.batch`). Elsewhere the reference comes from the year's counter
    row, drawn in its own short transaction first (when the caller is not already inside
    one), and the rows are written one table at a time, the agent's round-robin stamp and
    load last, so the locks they take are held only until the commit that follows at once.
    """
    now = now or timezone.now()
    subject = _clean_subject(subject)
    body = _clean_body(body)
    _clean_choice(kind, Kind, "kind")
    _clean_choice(priority, Priority, "priority")
    _clean_choice(channel, Channel, "channel")
    if not organisation.is_active:
        raise ApplicationError(_("This organisation's account is inactive."))
    if requester is not None and requester.organisation_id != organisation.pk:
        raise ApplicationError(
            _("The requester does not belong to this organisation."),
            fields={"requester": [_("Choose a person of the organisation.")]},
        )
    if unit is not None and unit.organisation_id != organisation.pk:
        raise ApplicationError(
            _("This unit does not belong to the organisation."),
            fields={"unit": [_("Choose one of the organisation's units.")]},
        )
    if fault_report and kind != Kind.FAULT:
        raise ApplicationError(
            _("Only fault tickets carry a fault report."),
            fields={"fault_report": [_("Set the kind to fault or leave this out.")]},
        )
    # Checked and scanned before the transaction: a refused file's audit row must be kept.
    for upload in attachments:
        attachment_store.check(upload, actor=actor, target=organisation)
    report_data = dict(fault_report or {})
    if report_data:
        # Validate before a reference number is spent.
        _fault_report(Ticket(), report_data)
    # The impact the customer reported sets the opening priority, by the supervisors' rules.
    assessment = impact.impact_assess(report=report_data, requested=priority)
    if references.uses_sequence():
        # Created once per process and year, outside the opening's transaction.
        reference = references.ensure_sequence(references.year_of(now))
    else:
        reference = references.next_reference(now)
    # The outbox hand-over and the live events after the commit: one Redis round trip.
    with batched(), transaction.atomic():
        return _ticket_insert(
            actor=actor,
            organisation=organisation,
            reference=reference,
            subject=subject,
            body=body,
            requester=requester,
            unit=unit,
            kind=kind,
            priority=assessment.priority,
            channel=channel,
            tags=tags,
            report_data=report_data,
            assessment=assessment,
            attachments=attachments,
            now=now,
            queue=queue,
            notify_requester=notify_requester,
        )


def _ticket_insert(
    *,
    actor: Any,
    organisation: Organisation,
    reference: str,
    subject: str,
    body: str,
    requester: Any,
    unit: Unit | None,
    kind: str,
    priority: int,
    channel: str,
    tags: Sequence[str],
    report_data: dict[str, Any],
    assessment: impact.Assessment,
    attachments: Sequence[Any],
    now: dt.datetime,
    queue: Queue | None = None,
    notify_requester: bool = True,
) -> Ticket:
    tier = unit.contract_tier if unit is not None else organisation.tier
    priority_service = organisation.has_priority_service(now)
    if priority_service and sla.policy_for(tier=PRIORITY_SERVICE_TIER, priority=priority):
        # Compensation's priority service: the fastest tier's targets while it lasts.
        tier = PRIORITY_SERVICE_TIER
    product_line = unit.machine_model.product_line if unit is not None else ""
    ticket = Ticket(
        reference=reference,
        organisation=organisation,
        requester=requester,
        unit=unit,
        kind=kind,
        priority=priority,
        channel=channel,
        subject=subject,
        status=Status.NEW,
        created_at=now,
        priority_until=organisation.priority_service_until if priority_service else None,
    )
    plan = sla.sla_plan(ticket, tier=tier, now=now)
    ticket.queue = queue or assignment.route_queue(
        region_id=organisation.region_id, product_line=product_line
    )
    batch = InsertBatch()
    member = agent = None
    if references.uses_sequence():
        # `reference` names the year's sequence: one statement draws the number, the id
        # and the assignee, so every row below can name the ticket before it is written.
        draw = assignment.draw_new(
            queue=ticket.queue, region_id=organisation.region_id, now=now, sequence=reference
        )
        ticket.pk = draw.ticket_id
        ticket.reference = references.format_reference(references.year_of(now), draw.number)
        agent = draw.agent
        if draw.contended:
            agent = assignment.pick_agent(
                queue=ticket.queue, region_id=organisation.region_id, now=now
            )
            if agent is not None:
                assignment.load_adjust({agent.pk: +1})
        ticket.assignee = agent
        sla.sla_track(ticket)
        batch.add(Ticket, [ticket], returning=False)
    else:
        if ticket.queue is not None:
            member = assignment.choose_member(queue=ticket.queue, region_id=organisation.region_id)
            if member is not None:
                ticket.assignee = agent = member.agent
        sla.sla_track(ticket)
        ticket.save(force_insert=True)
    ticket._state.adding = False
    batch.add(SLATimer, sla.sla_timers_new(ticket, plan, now=now), returning=False)
    message = Message(
        ticket=ticket,
        author=requester
        if requester is not None
        else (actor if getattr(actor, "pk", None) else None),
        from_customer=not is_staff_actor(actor),
        body=body,
        channel=channel,
    )
    batch.add(Message, [message])
    if report_data:
        report = _fault_report(ticket, report_data)
        report.priority_rule = assessment.rule
        batch.add(FaultReport, [report])
    code = report_data.get("fault_code")
    batch.add(
        SearchTerm,
        search_index.new_ticket_rows(ticket, message, fault_code=getattr(code, "code", "") or ""),
        returning=False,
    )
    if notify_requester:
        notify.notify_opened(ticket, batch=batch)
    notify.tell_organisation(ticket, now=now, opened=True, batch=batch)
    if agent is not None:
        notify.notify_assigned(ticket, agent=agent, version=ticket.version, batch=batch)
    audit_record(
        action="ticket.opened",
        actor=actor,
        target=ticket,
        data={
            "reference": ticket.reference,
            "organisation": organisation.pk,
            "kind": kind,
            "priority": priority,
            "channel": channel,
            "queue": ticket.queue_id,
            "assignee": ticket.assignee_id,
            "policy": ticket.sla_policy_id,
            "priority_service": priority_service,
            **_impact_audit(report_data, assessment),
        },
        batch=batch,
    )
    batch.flush()
    if tags:
        ticket.tags.set(_tags(tags))
    else:
        # Nothing to read back: spare the caller a query for the empty tag list.
        ticket._prefetched_objects_cache = {"tags": Tag.objects.none()}
    for upload in attachments:
        attachment_store.save(ticket=ticket, upload=upload, actor=actor, message=message)
    if assessment.notify_supervisor:
        notify.notify_safety_risk(ticket)
    if member is not None:
        assignment.member_stamp(member, now=now)
        assignment.load_adjust({member.agent_id: +1})
    _event(ticket, "opened")
    return ticket


def _impact_audit(report: dict[str, Any], assessment: impact.Assessment) -> dict[str, Any]:
    """The impact answers and the rule that priced them, for the opening's audit row."""
    if not impact.has_impact(report):
        return {}
    return {
        "impact": {name: report.get(name) for name in impact.IMPACT_FIELDS},
        "priority_rule": assessment.rule.pk if assessment.rule is not None else None,
        "supervisor_notified": assessment.notify_supervisor,
    }


# ------------------------------------------------------------------- conversation


def ticket_reply(
    *,
    ticket: Ticket,
    author: Any,
    body: str,
    internal: bool = False,
    attachments: Sequence[Any] = (),
    channel: str = Channel.PORTAL,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Message:
    """Add a public reply or an internal note; a customer reply may reopen the ticket."""
    now = now or timezone.now()
    body = _clean_body(body)
    staff = is_staff_actor(author)
    if internal and not staff:
        raise Forbidden(_("Only staff can write internal notes."))
    # Checked and scanned before the transaction: a refused file's audit row must be kept.
    for upload in attachments:
        attachment_store.check(upload, actor=author, target=ticket)
    with transaction.atomic():
        return _reply(
            ticket=ticket,
            author=author,
            body=body,
            staff=staff,
            internal=internal,
            attachments=attachments,
            channel=channel,
            expected_version=expected_version,
            now=now,
        )


def _reply(
    *,
    ticket: Ticket,
    author: Any,
    body: str,
    staff: bool,
    internal: bool,
    attachments: Sequence[Any],
    channel: str,
    expected_version: int | None,
    now: dt.datetime,
) -> Message:
    t = _lock(ticket, expected_version)
    was = t.status
    changed: list[str] = []
    reopened = False
    if t.status == Status.CLOSED:
        raise ApplicationError(
            _("Ticket %(ref)s is closed. Please open a new ticket.") % {"ref": t.reference},
            code="ticket_closed",
        )
    if not staff:
        if t.status == Status.RESOLVED:
            limit = t.resolved_at + dt.timedelta(days=settings.TICKET_REOPEN_DAYS)
            if now > limit:
                raise ApplicationError(
                    _(
                        "Ticket %(ref)s was resolved more than %(days)s days ago. "
                        "Please open a new ticket."
                    )
                    % {"ref": t.reference, "days": settings.TICKET_REOPEN_DAYS},
                    code="reopen_expired",
                )
            changed += _apply_status(t, Status.OPEN, now=now)
            reopened = True
        elif t.status == Status.WAITING:
            changed += _apply_status(t, Status.OPEN, now=now)
        t.last_customer_message_at = now
        changed.append("last_customer_message_at")
        changed += sla.sla_customer_wrote(t, now=now)
    elif not internal:
        changed += sla.sla_agent_replied(t, now=now)
        if t.status == Status.NEW:
            changed += _apply_status(t, Status.OPEN, now=now)
        # A public reply to an unassigned ticket makes the replier its owner (per queue; a
        # note does not: it answers no one, and a colleague's comment is no taking over).
        if assignment.takes_on_reply(t, author):
            changed += _assign_replier(t, author)
    message = Message.objects.create(
        ticket=t,
        author=author if getattr(author, "pk", None) else None,
        from_customer=not staff,
        internal=internal,
        body=body,
        channel=channel,
    )
    search_index.index_message(message)
    for upload in attachments:
        attachment_store.save(ticket=t, upload=upload, actor=author, message=message)
    _save(t, changed)
    audit_record(
        action="ticket.note_added" if internal else "ticket.replied",
        actor=author,
        target=t,
        data={
            "message": message.pk,
            "from_customer": not staff,
            "attachments": len(attachments),
            **({"reopened": True} if reopened else {}),
        },
    )
    if staff and not internal:
        notify.notify_reply(t, message_id=message.pk, body=body)
    notify.tell_organisation(
        t,
        now=now,
        answered=message if staff and not internal else None,
        previous_status=was if t.status != was else None,
    )
    _event(t, "message")
    return message


def _assign_replier(t: Ticket, author: Any) -> list[str]:
    """Assign t to the agent who just answered it, audited as an assignment."""
    t.assignee = author
    if t.status in ACTIVE_STATUSES:
        assignment.load_adjust({author.pk: +1})
    audit_record(
        action="ticket.assigned",
        actor=author,
        target=t,
        changes={"assignee": author.pk},
        data={"from": None, "on_reply": True},
    )
    return ["assignee"]


# ------------------------------------------------------------------- status


def _apply_status(t: Ticket, status: str, *, now: dt.datetime) -> list[str]:
    """Move t to status with its SLA consequences; return the changed fields."""
    old = t.status
    changed = ["status"]
    was_active, now_active = old in ACTIVE_STATUSES, status in ACTIVE_STATUSES
    if t.assignee_id and was_active != now_active:
        assignment.load_adjust({t.assignee_id: +1 if now_active else -1})
    if status in (Status.WAITING, Status.ON_HOLD):
        changed += sla.sla_pause(t, now=now)
    elif status == Status.OPEN:
        if old == Status.RESOLVED:
            # A reopen: the resolution did not hold. Counted here, the one place every
            # reopen passes (a customer's reply or reopen, an agent's), for the reopen rate.
            t.resolved_at = None
            t.resolution_met = None
            t.reopened_count += 1
            t.reopened_at = now
            changed += ["resolved_at", "resolution_met", "reopened_count", "reopened_at"]
        changed += sla.sla_resume(t, now=now)
    elif status == Status.RESOLVED:
        changed += sla.sla_resolved(t, now=now)
        t.resolved_at = now
        changed.append("resolved_at")
    elif status == Status.CLOSED:
        if old != Status.RESOLVED and t.resolution_met is None and t.sla_policy_id:
            changed += sla.sla_resolved(t, now=now)
        changed += sla.sla_closed(t)
        t.closed_at = now
        changed.append("closed_at")
    t.status = status
    return changed


@transaction.atomic
def ticket_transition(
    *,
    ticket: Ticket,
    status: str,
    actor: Any,
    expected_version: int | None = None,
    reason: str = "",
    now: dt.datetime | None = None,
) -> Ticket:
    """Change a ticket's status; an illegal transition is refused with a clear error."""
    now = now or timezone.now()
    _clean_choice(status, Status, "status")
    t = _lock(ticket, expected_version)
    if t.status == status:
        return t
    if status not in TRANSITIONS[t.status]:
        raise ApplicationError(
            _("A ticket cannot go from %(old)s to %(new)s.")
            % {"old": Status(t.status).label, "new": Status(status).label},
            code="illegal_transition",
            status_code=409,
        )
    if not is_staff_actor(actor):
        allowed = status == Status.CLOSED or (status == Status.OPEN and t.status == Status.RESOLVED)
        if not allowed:
            raise Forbidden(_("You can close your ticket or reopen it, nothing else."))
        if status == Status.OPEN:
            limit = t.resolved_at + dt.timedelta(days=settings.TICKET_REOPEN_DAYS)
            if now > limit:
                raise ApplicationError(
                    _("Ticket %(ref)s can no longer be reopened. Please open a new ticket.")
                    % {"ref": t.reference},
                    code="reopen_expired",
                )
    old = t.status
    changed = _apply_status(t, status, now=now)
    _save(t, changed)
    survey_token = None
    if status == Status.RESOLVED:
        from tickets.services.surveys import survey_create

        survey_token = survey_create(ticket=t)
    audit_record(
        action="ticket.status_changed",
        actor=actor,
        target=t,
        changes={"status": status},
        data={"from": old, **({"reason": one_line(reason)[:200]} if reason else {})},
    )
    notify.notify_status(t, version=t.version, survey_token=survey_token)
    notify.tell_organisation(t, now=now, previous_status=old)
    _event(t, "status")
    return t


@transaction.atomic
def ticket_set_priority(
    *,
    ticket: Ticket,
    priority: int,
    actor: Any,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """Change the priority and recompute the SLA with the time already used."""
    now = now or timezone.now()
    _clean_choice(priority, Priority, "priority")
    if not is_staff_actor(actor):
        raise Forbidden(_("Only staff can change the priority."))
    t = _lock(ticket, expected_version)
    if t.priority == priority:
        return t
    if not t.is_active:
        raise ApplicationError(_("A resolved or closed ticket keeps its priority."))
    old = t.priority
    t.priority = priority
    changed = ["priority", *sla.sla_reprice(t, tier=t.contract_tier or "standard", now=now)]
    _save(t, changed)
    audit_record(
        action="ticket.priority_changed",
        actor=actor,
        target=t,
        changes={"priority": priority},
        data={"from": old},
    )
    _event(t, "priority")
    return t


@transaction.atomic
def ticket_update(
    *,
    ticket: Ticket,
    actor: Any,
    expected_version: int | None = None,
    subject: str | None = None,
    kind: str | None = None,
    unit: Unit | bool | None = False,
    tags: Sequence[str] | None = None,
    queue: Any = False,
) -> Ticket:
    """Change descriptive fields (staff): subject, kind, unit, tags, queue."""
    if not is_staff_actor(actor):
        raise Forbidden(_("Only staff can edit a ticket's details."))
    t = _lock(ticket, expected_version)
    changes: dict[str, Any] = {}
    if subject is not None:
        subject = _clean_subject(subject)
        if subject != t.subject:
            t.subject = changes["subject"] = subject
    if kind is not None and kind != t.kind:
        t.kind = changes["kind"] = _clean_choice(kind, Kind, "kind")
    if unit is not False and unit != t.unit:
        if unit is not None and unit.organisation_id != t.organisation_id:
            raise ApplicationError(
                _("This unit does not belong to the ticket's organisation."),
                fields={"unit": [_("Choose one of the organisation's units.")]},
            )
        t.unit = unit
        changes["unit"] = unit.pk if unit else None
    if queue is not False and queue != t.queue:
        t.queue = queue
        changes["queue"] = queue.pk if queue else None
    if tags is not None:
        wanted = _tags(tags)
        if {x.pk for x in wanted} != set(t.tags.values_list("pk", flat=True)):
            t.tags.set(wanted)
            changes["tags"] = [x.name for x in wanted]
    if not changes:
        return t
    fields = [f for f in changes if f != "tags"]
    if "unit" in changes and t.is_active:
        tier = t.unit.contract_tier if t.unit else t.organisation.tier
        if tier != t.contract_tier:
            fields += sla.sla_reprice(t, tier=tier, now=timezone.now())
    _save(t, fields)
    if "subject" in changes or "unit" in changes:
        search_index.index_fields([t.pk])
    audit_record(action="ticket.changed", actor=actor, target=t, changes=changes)
    _event(t, "fields")
    return t


# ------------------------------------------------------------------- assignment


@transaction.atomic
def ticket_assign(
    *, ticket: Ticket, agent: Any, actor: Any, expected_version: int | None = None
) -> Ticket:
    """Assign a ticket to a staff member, or unassign it (agent=None)."""
    if not is_staff_actor(actor):
        raise Forbidden(_("Only staff can assign tickets."))
    if agent is not None and not (agent.is_staff and agent.is_active):
        raise ApplicationError(
            _("Tickets can only be assigned to active staff."),
            fields={"assignee": [_("Choose an active agent.")]},
        )
    t = _lock(ticket, expected_version)
    if t.assignee_id == (agent.pk if agent else None):
        return t
    if t.status == Status.CLOSED:
        raise ApplicationError(_("A closed ticket cannot be reassigned."))
    if agent is not None and not sees_region(agent, t.organisation.region_id):
        raise ApplicationError(
            _("That agent does not work for this customer's region."),
            fields={"assignee": [_("Choose an agent of the customer's region.")]},
        )
    old = t.assignee_id
    t.assignee = agent
    _save(t, ["assignee"])
    if t.status in ACTIVE_STATUSES:
        assignment.load_adjust({old: -1, t.assignee_id: +1})
    audit_record(
        action="ticket.assigned",
        actor=actor,
        target=t,
        changes={"assignee": agent.pk if agent else None},
        data={"from": old},
    )
    if agent is not None and agent.pk != getattr(actor, "pk", None):
        notify.notify_assigned(t, agent=agent, version=t.version)
    _event(t, "assignee")
    return t


@transaction.atomic
def ticket_assign_automatically(
    *, ticket: Ticket, actor: Any, expected_version: int | None = None
) -> Ticket:
    """Give the ticket to the least-busy active agent of its queue."""
    t = _lock(ticket, expected_version)
    if t.queue is None:
        raise ApplicationError(_("Ticket %(ref)s has no queue.") % {"ref": t.reference})
    agent = assignment.pick_agent(
        queue=t.queue,
        region_id=t.organisation.region_id,
        now=timezone.now(),
        exclude=t.assignee_id,
    )
    if agent is None:
        raise ApplicationError(
            _("Queue %(q)s has no active agent who could take it.") % {"q": t.queue.name}
        )
    return ticket_assign(ticket=t, agent=agent, actor=actor)


# ------------------------------------------------------------------- merging


@transaction.atomic
def ticket_merge(*, duplicates: Sequence[Ticket], into: Ticket, actor: Any) -> Ticket:
    """Merge duplicate tickets into one: their messages and files move, the duplicates close."""
    if not is_staff_actor(actor):
        raise Forbidden(_("Only staff can merge tickets."))
    target = _lock(into, None)
    if target.status == Status.CLOSED:
        raise ApplicationError(_("Merge into an open ticket, not a closed one."))
    now = timezone.now()
    merged = []
    for dup in sorted(duplicates, key=lambda d: d.pk):
        if dup.pk == target.pk:
            continue
        d = _lock(dup, None)
        if d.organisation_id != target.organisation_id:
            raise ApplicationError(
                _("%(a)s and %(b)s belong to different organisations and cannot be merged.")
                % {"a": d.reference, "b": target.reference}
            )
        if d.status == Status.CLOSED:
            raise ApplicationError(
                _("%(ref)s is already closed.") % {"ref": d.reference}, code="already_closed"
            )
        d.messages.update(ticket=target)
        d.attachments.update(ticket=target)
        was = d.status
        changed = _apply_status(d, Status.CLOSED, now=now)
        d.merged_into = target
        _save(d, [*changed, "merged_into"])
        notify.tell_organisation(d, now=now, previous_status=was)
        merged.append(d)
    if not merged:
        raise ApplicationError(_("Choose at least one other ticket to merge."))
    Message.objects.create(
        ticket=target,
        author=actor if getattr(actor, "pk", None) else None,
        internal=True,
        body=_("Merged into this ticket: %(refs)s")
        % {"refs": ", ".join(d.reference for d in merged)},
        channel=Channel.AGENT,
    )
    # The moved messages' terms go with them (and the merge note's come).
    search_index.index_messages([target.pk, *(d.pk for d in merged)])
    _save(target, [])
    audit_record_many(
        action="ticket.merged",
        actor=actor,
        targets=merged,
        data={"into": target.pk, "into_reference": target.reference},
    )
    _event(target, "merged")
    for d in merged:  # closed now: they leave the open lists
        live.ticket_changed(d, "status")
    return target


# ------------------------------------------------------------------- housekeeping


def tickets_close_resolved(*, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Close tickets resolved longer ago than the reopen window; return how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.TICKET_REOPEN_DAYS)
    ids = list(
        Ticket.objects.filter(status=Status.RESOLVED, resolved_at__lt=cutoff)
        .order_by("resolved_at")
        .values_list("pk", flat=True)[:limit]
    )
    closed = 0
    for pk in ids:
        try:
            ticket_transition(
                ticket=Ticket(pk=pk), status=Status.CLOSED, actor=None, reason="auto-close", now=now
            )
            closed += 1
        except ApplicationError:
            continue
    return closed


@transaction.atomic
def ticket_flag(*, ticket: Ticket, actor: Any, tag: str, note: str) -> Ticket:
    """Draw the agent's attention to a ticket: a tag, an internal note with the reason, and an
    e-mail to its assignee (e.g. a late or failed shipment). Flagging twice adds nothing."""
    t = _lock(ticket, None)
    (flag,) = _tags([tag])
    if t.tags.filter(pk=flag.pk).exists():
        return t
    t.tags.add(flag)
    note_message = Message.objects.create(
        ticket=t, author=None, internal=True, body=_clean_body(note)
    )
    search_index.index_message(note_message)
    audit_record(action="ticket.flagged", actor=actor, target=t, data={"tag": flag.name})
    notify.notify_flagged(t, tag=flag.name, note=note)
    _event(t, "flagged")
    return t


@transaction.atomic
def tickets_erase_person(*, user: Any, marks: Any, actor: Any) -> dict[str, int]:
    """Erasure: what the person wrote becomes a placeholder, their uploads are deleted, and
    their name, e-mail and phone are scrubbed from their tickets' subjects and replies; the
    tickets themselves (and the machine history they make) stay."""
    from django.db.models import Q

    from core.privacy import ERASED
    from tickets.models import Attachment, SavedView, Survey

    written = Message.objects.filter(author=user).update(body=ERASED, erased=True)
    theirs = Ticket.objects.filter(Q(requester=user) | Q(messages__author=user)).distinct()
    scrubbed = 0
    for message in Message.objects.filter(ticket__in=theirs).exclude(author=user):
        if marks.found_in(message.body):
            message.body = marks.scrub(message.body)
            message.save(update_fields=["body"])
            scrubbed += 1
    subjects = 0
    for ticket in theirs:
        if marks.found_in(ticket.subject):
            Ticket.objects.filter(pk=ticket.pk).update(subject=marks.scrub(ticket.subject)[:200])
            subjects += 1
    # Their name and e-mail leave their tickets' terms, and what they wrote leaves with it.
    search_index.reindex([t.pk for t in theirs], skip_requester=user)
    uploads = delete_with_files(Attachment.objects.filter(uploaded_by=user))
    comments = Survey.objects.filter(ticket__requester=user).update(comment="")
    # A person's own list views (staff): their names are free text they typed.
    views, _by_model = SavedView.objects.filter(owner=user).delete()
    counts = {
        "saved_views": views,
        "messages": written,
        "replies_scrubbed": scrubbed,
        "subjects": subjects,
        "attachments": uploads,
        "survey_comments": comments,
    }
    audit_record(action="tickets.person_erased", actor=actor, target=user, data=counts)
    return counts


def tickets_expire(*, closed_before: Any, dry_run: bool) -> dict[str, int]:
    """Retention: closed tickets keep their facts (unit, dates, status, SLA), not what the
    customers wrote or uploaded."""
    from core.privacy import ERASED
    from tickets.models import Attachment, Survey

    old = Ticket.objects.filter(status=Status.CLOSED, closed_at__lt=closed_before)
    messages = Message.objects.filter(ticket__in=old, from_customer=True, erased=False)
    files = Attachment.objects.filter(ticket__in=old)
    counts = {"tickets": old.count(), "messages": messages.count(), "attachments": files.count()}
    if not dry_run:
        with transaction.atomic():
            touched = list(messages.values_list("ticket_id", flat=True).distinct())
            messages.update(body=ERASED, erased=True)
            for start in range(0, len(touched), 500):
                search_index.index_messages(touched[start : start + 500])
            delete_with_files(files)
            Survey.objects.filter(ticket__in=old).update(comment="")
    return counts
