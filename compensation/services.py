"""Every write of compensation: assess an event, approve or reject grants, apply, reverse.

Assessment is set-based: a handful of queries find everyone an event touched (tickets, chats
and calls in the outage window, units in the affected regions), whatever their number; the
grants are inserted in batches. An event has one `Assessment` row, locked while it runs, and
an organisation gets at most one grant of each kind per event (a unique constraint), so
assessing again proposes only what is new.

Approval locks the grants and applies only those still proposed, through the owning apps'
services: a unit's warranty end (equipment), a voucher (here), the organisation's priority
service (accounts). Two supervisors approving the same grants at once apply them once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from accounts.services import (
    PriorityChange,
    organisation_priority_set,
    organisations_priority_set_many,
)
from audit.services import actor_ref_for, audit_record, audit_record_many
from chat import selectors as chat_selectors
from compensation import notify
from compensation.models import (
    Assessment,
    EventKind,
    Grant,
    GrantKind,
    GrantStatus,
    Policy,
    Voucher,
    VoucherStatus,
)
from core.errors import ApplicationError, Forbidden
from core.models import bulk_insert, lock_or_insert
from core.queue import enqueue_on_commit
from core.validation import clean_text
from equipment import selectors as equipment_selectors
from equipment import services as equipment_services
from intake import selectors as intake_selectors
from status import selectors as status_selectors
from tickets import selectors as ticket_selectors

DECIDE = "compensation.decide_grant"
ASSESS = "compensation.add_assessment"
# Grants decided in one transaction (bulk approval runs chunk after chunk): each chunk costs
# a fixed number of statements, so a larger one costs fewer round trips per grant.
CHUNK = 1000
# References kept in a grant's "why" (the counts are always complete).
EVIDENCE_SAMPLE = 10
REASON_MAX = 300


@dataclass
class AssessResult:
    assessment: Assessment
    proposed: int
    organisations: int
    policies: list[str]


@dataclass
class Decided:
    done: int = 0
    skipped: int = 0
    grant_ids: list[int] = field(default_factory=list)


@dataclass
class _Affected:
    """What one organisation was touched by: references and counts, no personal data."""

    tier: str
    tickets: list[str] = field(default_factory=list)
    tickets_count: int = 0
    calls: int = 0
    chats: int = 0
    in_region: bool = False
    units: list[tuple[int, str]] = field(default_factory=list)

    @property
    def contacted(self) -> bool:
        return bool(self.tickets_count or self.calls or self.chats)

    def evidence(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.tickets_count:
            found["tickets"] = self.tickets[:EVIDENCE_SAMPLE]
            found["tickets_count"] = self.tickets_count
        if self.calls:
            found["calls"] = self.calls
        if self.chats:
            found["chats"] = self.chats
        if self.units:
            found["units"] = [serial for _pk, serial in self.units[:EVIDENCE_SAMPLE]]
            found["units_count"] = len(self.units)
        return found


def _require(actor: Any, perm: str) -> None:
    if actor is not None and not isinstance(actor, str) and not actor.has_perm(perm):
        raise Forbidden(_("Only a supervisor can do this."))


def _reason(value: Any, *, required: bool) -> str:
    return clean_text(value, "reason", _("The reason"), limit=REASON_MAX, required=required)


def _hours(start: dt.datetime, end: dt.datetime) -> Decimal:
    return Decimal(max(0.0, (end - start).total_seconds()) / 3600).quantize(Decimal("0.01"))


def _policies(event: str) -> list[Policy]:
    return list(
        Policy.objects.filter(is_active=True, event=event)
        .prefetch_related("tiers")
        .order_by("position", "pk")
    )


# ------------------------------------------------------------------- assessment


def assess_incident(*, incident: Any, actor: Any) -> AssessResult:
    """Find the organisations a resolved, public incident affected and propose grants."""
    _require(actor, ASSESS)
    incident = status_selectors.incident_for_compensation(pk=incident.pk)
    if incident is None or incident.published_at is None:
        raise ApplicationError(_("Only a published incident can be assessed."))
    if incident.resolved_at is None:
        raise ApplicationError(
            _("Assess the incident once it is resolved: the outage hours are not final yet."),
            code="not_resolved",
        )
    start, end = incident.started_at, incident.resolved_at
    minutes = (end - start).total_seconds() / 60
    rank = incident.severity.rank
    policies = [
        p
        for p in _policies(EventKind.INCIDENT)
        if rank <= p.max_severity_rank and minutes >= p.min_duration_minutes
    ]
    components = list(incident.components.all())
    nationwide = any(c.region_id is None for c in components)
    region_ids = None if nationwide else sorted({c.region_id for c in components})
    lines = [line for c in components if (line := intake_selectors.line_of_component(c.key))]
    affected: dict[int, _Affected] = {}
    if any(p.affects_contacts for p in policies):
        _contacts(affected, start=start, end=end, region_ids=region_ids, lines=lines)
    if any(p.affects_units for p in policies):
        for org_id, tier, unit_id, serial in equipment_selectors.units_in_warranty(
            on=start.date(), region_ids=region_ids
        ):
            row = affected.setdefault(org_id, _Affected(tier=tier))
            row.in_region = True
            row.units.append((unit_id, serial))
    # Units of organisations found only through their contacts.
    missing = [org_id for org_id, row in affected.items() if not row.in_region]
    if missing:
        for org_id, _tier, unit_id, serial in equipment_selectors.units_in_warranty(
            on=start.date(), organisation_ids=missing
        ):
            affected[org_id].units.append((unit_id, serial))
    return _propose(
        key=f"incident:{incident.pk}",
        event=EventKind.INCIDENT,
        refs={"incident": incident},
        start=start,
        end=end,
        policies=policies,
        affected=affected,
        actor=actor,
    )


def _contacts(
    affected: dict[int, _Affected],
    *,
    start: dt.datetime,
    end: dt.datetime,
    region_ids: list[int] | None,
    lines: list[str],
) -> None:
    for org_id, tier, reference in ticket_selectors.organisations_with_tickets(
        start=start, end=end, region_ids=region_ids
    ):
        row = affected.setdefault(org_id, _Affected(tier=tier))
        row.tickets_count += 1
        if len(row.tickets) < EVIDENCE_SAMPLE:
            row.tickets.append(reference)
    for org_id, tier in chat_selectors.organisations_with_chats(
        start=start, end=end, region_ids=region_ids
    ):
        affected.setdefault(org_id, _Affected(tier=tier)).chats += 1
    if lines:
        callers = list(intake_selectors.callers_on_lines(lines=lines, start=start, end=end))
        known = account_selectors.organisations_by_phone_index(callers)
        for bidx in callers:
            if bidx in known:
                org_id, tier = known[bidx]
                affected.setdefault(org_id, _Affected(tier=tier)).calls += 1


def assess_ticket(*, ticket: Any, actor: Any) -> AssessResult:
    """Propose grants for the organisation of a resolved P1/P2 ticket that was resolved late."""
    _require(actor, ASSESS)
    if ticket.resolution_met is not False or ticket.resolved_at is None:
        raise ApplicationError(
            _("Only a resolved ticket that missed its resolution target can be assessed."),
            code="not_breached",
        )
    start = ticket.resolution_due or ticket.created_at
    end = ticket.resolved_at
    policies = [p for p in _policies(EventKind.TICKET_BREACH) if ticket.priority <= p.max_priority]
    org = account_selectors.organisations_by_id([ticket.organisation_id])[ticket.organisation_id]
    row = _Affected(tier=ticket.contract_tier or org.tier)
    row.tickets, row.tickets_count = [ticket.reference], 1
    units = list(equipment_selectors.units_in_warranty(on=start.date(), organisation_ids=[org.pk]))
    if ticket.unit_id:
        units = [u for u in units if u[2] == ticket.unit_id]
    row.units = [(unit_id, serial) for _org, _tier, unit_id, serial in units]
    affected = {org.pk: row} if org.is_active else {}
    return _propose(
        key=f"ticket:{ticket.pk}",
        event=EventKind.TICKET_BREACH,
        refs={"ticket": ticket},
        start=start,
        end=end,
        policies=policies,
        affected=affected,
        actor=actor,
    )


def _covers(policy: Policy, event: str, row: _Affected) -> bool:
    if event == EventKind.TICKET_BREACH:
        return True
    return (policy.affects_contacts and row.contacted) or (policy.affects_units and row.in_region)


def _grants_for(
    policies: list[Policy], event: str, row: _Affected, hours: Decimal
) -> list[tuple[Policy, str, dict[str, Any]]]:
    """(policy, kind, values) of each kind this organisation gets: the first policy that
    covers it and gives something of that kind to its tier wins."""
    found: dict[str, tuple[Policy, str, dict[str, Any]]] = {}
    for policy in policies:
        if not _covers(policy, event, row):
            continue
        terms = next((t for t in policy.tiers.all() if t.tier == row.tier), None)
        if terms is None:
            continue
        if GrantKind.WARRANTY not in found and row.units and terms.warranty_days_per_hour > 0:
            days = min(terms.warranty_days_max, math.ceil(hours * terms.warranty_days_per_hour))
            if days > 0:
                found[GrantKind.WARRANTY] = (policy, GrantKind.WARRANTY, {"days": days})
        if GrantKind.VOUCHER not in found and terms.voucher_value > 0:
            found[GrantKind.VOUCHER] = (
                policy,
                GrantKind.VOUCHER,
                {"amount": terms.voucher_value, "valid_days": terms.voucher_valid_days},
            )
        if GrantKind.PRIORITY not in found and terms.priority_days > 0:
            found[GrantKind.PRIORITY] = (
                policy,
                GrantKind.PRIORITY,
                {"days": terms.priority_days},
            )
    return list(found.values())


def _propose(
    *,
    key: str,
    event: str,
    refs: dict[str, Any],
    start: dt.datetime,
    end: dt.datetime,
    policies: list[Policy],
    affected: dict[int, _Affected],
    actor: Any,
) -> AssessResult:
    hours = _hours(start, end)
    now = timezone.now()
    actor_ref = actor_ref_for(actor)
    with transaction.atomic():
        assessment = lock_or_insert(
            Assessment,
            {"key": key},
            Assessment(
                key=key,
                event=event,
                window_start=start,
                window_end=end,
                hours=hours,
                assessed_by=actor_ref,
                **refs,
            ),
        )
        existing = set(assessment.grants.values_list("organisation_id", "kind"))
        new: list[Grant] = []
        for org_id, row in affected.items():
            evidence = None
            for policy, kind, values in _grants_for(policies, event, row, hours):
                if (org_id, kind) in existing:
                    continue
                evidence = evidence or row.evidence()
                new.append(
                    Grant(
                        assessment=assessment,
                        policy=policy,
                        organisation_id=org_id,
                        kind=kind,
                        tier=row.tier,
                        evidence={**evidence, "hours": str(hours)},
                        unit_ids=[pk for pk, _s in row.units] if kind == GrantKind.WARRANTY else [],
                        created_at=now,
                        **values,
                    )
                )
        bulk_insert(new)  # COPY on PostgreSQL: hundreds of thousands of rows
        assessment.window_start, assessment.window_end, assessment.hours = start, end, hours
        assessment.runs += 1
        assessment.assessed_at, assessment.assessed_by = now, actor_ref
        assessment.save(
            update_fields=[
                "window_start",
                "window_end",
                "hours",
                "runs",
                "assessed_at",
                "assessed_by",
            ]
        )
        audit_record(
            action="compensation.assessed",
            actor=actor,
            target=assessment,
            data={
                "event": key,
                "hours": str(hours),
                "organisations": len(affected),
                "proposed": len(new),
                "policies": [p.pk for p in policies],
            },
        )
        if new:
            audit_record_many(
                action="compensation.grant_proposed",
                actor=actor,
                model=Grant,
                target_ids=[g.pk for g in new],
                data={"assessment": assessment.pk},
                per_target={
                    g.pk: {"kind": g.kind, "organisation": g.organisation_id, "policy": g.policy_id}
                    for g in new
                },
            )
    return AssessResult(
        assessment=assessment,
        proposed=len(new),
        organisations=len(affected),
        policies=[p.name for p in policies],
    )


def assess_pending(*, now: dt.datetime | None = None, days: int = 30) -> dict[str, int]:
    """Assess the events of the last `days` that have no assessment yet (the beat's task)."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=days)
    # An event resolved since then can only have been assessed since then.
    done = set(Assessment.objects.filter(assessed_at__gte=since).values_list("key", flat=True))
    counts = {"incidents": 0, "tickets": 0, "proposed": 0}
    if Policy.objects.filter(is_active=True, event=EventKind.INCIDENT).exists():
        for incident in status_selectors.resolved_incidents(since=since):
            if f"incident:{incident.pk}" not in done:
                counts["incidents"] += 1
                counts["proposed"] += assess_incident(incident=incident, actor=None).proposed
    breach = Policy.objects.filter(is_active=True, event=EventKind.TICKET_BREACH)
    if breach.exists():
        worst = max(p.max_priority for p in breach)
        for ticket in ticket_selectors.breached_tickets(since=since, max_priority=worst):
            if f"ticket:{ticket.pk}" not in done:
                counts["tickets"] += 1
                counts["proposed"] += assess_ticket(ticket=ticket, actor=None).proposed
    return counts


# ------------------------------------------------------------------- decisions


def grants_approve(*, grant_ids: Iterable[int], actor: Any, reason: Any = "") -> Decided:
    """Approve and apply the grants still proposed among these, chunk by chunk."""
    _require(actor, DECIDE)
    reason = _reason(reason, required=False)
    return _in_chunks(grant_ids, lambda ids: _approve_chunk(ids, actor=actor, reason=reason))


def grants_reject(*, grant_ids: Iterable[int], actor: Any, reason: Any) -> Decided:
    """Reject the grants still proposed among these, with a reason."""
    _require(actor, DECIDE)
    reason = _reason(reason, required=True)
    return _in_chunks(grant_ids, lambda ids: _reject_chunk(ids, actor=actor, reason=reason))


def assessment_decide_all(
    *, assessment: Assessment, approve: bool, actor: Any, reason: Any = ""
) -> Decided:
    """Approve (or reject) every grant of an assessment still proposed."""
    ids = Grant.objects.filter(assessment=assessment, status=GrantStatus.PROPOSED).values_list(
        "pk", flat=True
    )
    if approve:
        return grants_approve(grant_ids=list(ids), actor=actor, reason=reason)
    return grants_reject(grant_ids=list(ids), actor=actor, reason=reason)


def assessment_decide_all_later(
    *, assessment: Assessment, approve: bool, actor: Any, reason: Any = ""
) -> None:
    """Queue a bulk decision (a worker runs it chunk by chunk; eager in development)."""
    _require(actor, DECIDE)
    reason = _reason(reason, required=not approve)
    enqueue_on_commit(
        "compensation.decide_all",
        assessment_id=assessment.pk,
        approve=approve,
        actor_id=getattr(actor, "pk", None),
        reason=reason,
    )


def _in_chunks(grant_ids: Iterable[int], run: Any) -> Decided:
    ids = sorted({int(pk) for pk in grant_ids})
    total = Decided()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        done = run(chunk)
        total.done += done.done
        total.skipped += done.skipped
        total.grant_ids += done.grant_ids
    return total


def _locked(ids: list[int], status: str) -> list[Grant]:
    """The grants among ids in this status, locked (re-checked after any wait for a lock)."""
    return list(
        Grant.objects.select_for_update(of=("self",))
        .filter(pk__in=ids, status=status)
        # The evidence is not needed to decide, and is the largest column.
        .defer("evidence")
        # The notices name the event: its assessment, incident or ticket come once per chunk
        # (one instance each, not one copy per grant row). Not the organisation: its personal
        # data would be decrypted for nothing; accounts reads the priority end under its lock.
        .prefetch_related("assessment__incident", "assessment__ticket")
        .order_by("pk")
    )


def _approve_chunk(ids: list[int], *, actor: Any, reason: str) -> Decided:
    now = timezone.now()
    with transaction.atomic():
        grants = _locked(ids, GrantStatus.PROPOSED)
        _apply(grants, actor=actor, now=now)
        decided_by = actor if getattr(actor, "pk", None) else None
        for grant in grants:
            grant.status = GrantStatus.APPLIED
            grant.decided_by = decided_by
            grant.decided_at = grant.applied_at = now
            grant.decision_reason = reason
        pks = [g.pk for g in grants]
        # The same values for the whole chunk: one plain UPDATE (bulk_update's CASE per row
        # grows with the square of the chunk).
        Grant.objects.filter(pk__in=pks).update(
            status=GrantStatus.APPLIED,
            decided_by=decided_by,
            decided_at=now,
            applied_at=now,
            decision_reason=reason,
        )
        if pks:
            per = {g.pk: {"kind": g.kind, "organisation": g.organisation_id} for g in grants}
            audit_record_many(
                action="compensation.grant_approved",
                actor=actor,
                model=Grant,
                target_ids=pks,
                data={"reason": reason} if reason else None,
                per_target=per,
            )
            audit_record_many(
                action="compensation.grant_applied",
                actor=actor,
                model=Grant,
                target_ids=pks,
                per_target={g.pk: {**per[g.pk], **_applied_data(g)} for g in grants},
            )
            notify.granted(grants)
    return Decided(done=len(grants), skipped=len(ids) - len(grants), grant_ids=pks)


def _applied_data(grant: Grant) -> dict[str, Any]:
    if grant.kind == GrantKind.VOUCHER:
        return {"voucher": grant.voucher.pk, "amount": str(grant.amount)}
    if grant.kind == GrantKind.WARRANTY:
        return {"days": grant.days, "units": len(grant.unit_ids)}
    return {"days": grant.days}


def _reject_chunk(ids: list[int], *, actor: Any, reason: str) -> Decided:
    now = timezone.now()
    with transaction.atomic():
        grants = _locked(ids, GrantStatus.PROPOSED)
        decided_by = actor if getattr(actor, "pk", None) else None
        for grant in grants:
            grant.status = GrantStatus.REJECTED
            grant.decided_by = decided_by
            grant.decided_at = now
            grant.decision_reason = reason
        Grant.objects.filter(pk__in=[g.pk for g in grants]).update(
            status=GrantStatus.REJECTED,
            decided_by=decided_by,
            decided_at=now,
            decision_reason=reason,
        )
        if grants:
            audit_record_many(
                action="compensation.grant_rejected",
                actor=actor,
                model=Grant,
                target_ids=[g.pk for g in grants],
                data={"reason": reason},
            )
    return Decided(
        done=len(grants), skipped=len(ids) - len(grants), grant_ids=[g.pk for g in grants]
    )


def describe(grant: Grant, language: str) -> str:
    """What the grant gives, in a language (for notices and the warranty history)."""
    with translation.override(language):
        if grant.kind == GrantKind.WARRANTY:
            return _("Warranty extended by %(days)s days on %(n)s machine(s)") % {
                "days": grant.days,
                "n": len(grant.unit_ids),
            }
        if grant.kind == GrantKind.VOUCHER:
            return _("Maintenance voucher worth CNY %(amount)s, valid %(days)s days") % {
                "amount": grant.amount,
                "days": grant.valid_days,
            }
        return _("Priority service for %(days)s days") % {"days": grant.days}


def event_text(assessment: Assessment, language: str) -> str:
    """Why, in a language: the incident's title or the ticket's reference."""
    with translation.override(language):
        if assessment.incident_id:
            incident = assessment.incident
            return _("the service disruption “%(title)s” (%(hours)s hours)") % {
                "title": incident.title,
                "hours": assessment.hours,
            }
        return _("the late resolution of ticket %(ref)s") % {"ref": assessment.ticket.reference}


def _apply(grants: list[Grant], *, actor: Any, now: dt.datetime) -> None:
    """Apply a chunk of grants through the owning apps' batch services: a fixed number of
    statements per kind, whatever the chunk's size (the warranty and priority rules stay
    with equipment and accounts)."""
    moves: list[equipment_services.WarrantyMove] = []
    reasons: dict[int, tuple[str, str]] = {}
    vouchers: list[Voucher] = []
    priority: list[PriorityChange] = []
    for grant in grants:
        if grant.kind == GrantKind.WARRANTY:
            if grant.assessment_id not in reasons:
                reasons[grant.assessment_id] = (
                    _compensation_reason(grant, "en"),
                    _compensation_reason(grant, "zh-hans"),
                )
            reason_en, reason_zh = reasons[grant.assessment_id]
            moves += [
                equipment_services.WarrantyMove(
                    unit_id=unit_id,
                    days=grant.days,
                    reason=reason_en,
                    reason_zh=reason_zh,
                    source=grant.source,
                )
                for unit_id in grant.unit_ids
            ]
        elif grant.kind == GrantKind.VOUCHER:
            grant.voucher = Voucher(
                grant=grant,
                organisation_id=grant.organisation_id,
                value=grant.amount,
                expires_on=timezone.localdate(now) + dt.timedelta(days=grant.valid_days),
                issued_at=now,
            )
            vouchers.append(grant.voucher)
        else:
            # At least until now + days: a longer priority service already given stays.
            priority.append(
                PriorityChange(
                    organisation_id=grant.organisation_id,
                    until=now + dt.timedelta(days=grant.days),
                    reason=f"{grant.source} {grant.assessment.key}",
                    extend_only=True,
                )
            )
    if moves:
        equipment_services.units_extend_warranty_many(moves=moves, actor=actor)
    if vouchers:
        Voucher.objects.bulk_create(vouchers)
    if priority:
        organisations_priority_set_many(changes=priority, actor=actor)


def _compensation_reason(grant: Grant, language: str) -> str:
    with translation.override(language):
        return _("Compensation for %(event)s") % {"event": event_text(grant.assessment, language)}


@transaction.atomic
def grant_reverse(*, grant: Grant, actor: Any, reason: Any) -> Grant:
    """Take an applied grant back through the owning apps; audited, and the customer told."""
    _require(actor, DECIDE)
    reason = _reason(reason, required=True)
    locked = (
        Grant.objects.select_for_update(of=("self",))
        .select_related("assessment", "organisation")
        .filter(pk=grant.pk)
        .first()
    )
    if locked is None or locked.status != GrantStatus.APPLIED:
        raise ApplicationError(_("Only an applied grant can be reversed."), code="not_applied")
    now = timezone.now()
    if locked.kind == GrantKind.WARRANTY:
        for extension in equipment_selectors.warranty_extensions(source=locked.source):
            equipment_services.unit_warranty_extension_reverse(
                extension=extension,
                actor=actor,
                reason=f"Reversed: {reason}",
                reason_zh=f"已撤销：{reason}",
            )
    elif locked.kind == GrantKind.VOUCHER:
        voucher = Voucher.objects.select_for_update().filter(grant=locked).first()
        if voucher is not None:
            if voucher.status == VoucherStatus.REDEEMED:
                raise ApplicationError(
                    _("The voucher %(code)s was redeemed already; it cannot be reversed.")
                    % {"code": voucher.code},
                    code="redeemed",
                )
            voucher.status, voucher.voided_at = VoucherStatus.VOID, now
            voucher.save(update_fields=["status", "voided_at"])
    else:
        _priority_recompute(locked, actor=actor, now=now)
    locked.status = GrantStatus.REVERSED
    locked.reversed_by = actor if getattr(actor, "pk", None) else None
    locked.reversed_at = now
    locked.reversal_reason = reason
    locked.save(update_fields=["status", "reversed_by", "reversed_at", "reversal_reason"])
    audit_record(
        action="compensation.grant_reversed",
        actor=actor,
        target=locked,
        data={"reason": reason, "kind": locked.kind, "organisation": locked.organisation_id},
    )
    notify.withdrawn(locked)
    return locked


def _priority_recompute(grant: Grant, *, actor: Any, now: dt.datetime) -> None:
    """The priority service the organisation's other applied grants still give."""
    others = Grant.objects.filter(
        organisation_id=grant.organisation_id,
        kind=GrantKind.PRIORITY,
        status=GrantStatus.APPLIED,
    ).exclude(pk=grant.pk)
    ends = [g.applied_at + dt.timedelta(days=g.days) for g in others if g.applied_at]
    until = max((end for end in ends if end > now), default=None)
    organisation_priority_set(
        organisation=grant.organisation,
        until=until,
        actor=actor,
        reason=f"{grant.source} reversed",
    )


@transaction.atomic
def voucher_redeem(*, voucher: Voucher, actor: Any) -> Voucher:
    """Mark a voucher used (by an agent, when the maintenance package is booked)."""
    _require(actor, "compensation.change_voucher")
    locked = Voucher.objects.select_for_update().get(pk=voucher.pk)
    if locked.status != VoucherStatus.ISSUED:
        raise ApplicationError(_("Only an issued voucher can be redeemed."), code="not_issued")
    if locked.expires_on < timezone.localdate():
        raise ApplicationError(_("This voucher has expired."), code="expired")
    locked.status, locked.redeemed_at = VoucherStatus.REDEEMED, timezone.now()
    locked.save(update_fields=["status", "redeemed_at"])
    audit_record(action="compensation.voucher_redeemed", actor=actor, target=locked)
    return locked
