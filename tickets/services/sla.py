"""The SLA clock of one ticket: start, pause, resume, reprice, record response and resolution.

Each running target (first response, next reply, resolution) has a due time and a set of
`SLATimer` rows, one per threshold (the warning share, the breach at 100 %, and every
escalation rule of the policy). The scan deletes a timer when it fires and raises the
ticket's mark of the highest threshold fired, so a rebuilt clock never fires one twice. When
the clock stops the signed working seconds left are kept in `sla_remaining`; when it starts
again the due times and timers are rebuilt from them, so a pause costs the customer nothing.
These helpers change the ticket in memory and write timers; the calling service saves the
ticket and returns the field names it must save.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db.models.signals import post_delete, post_save

from tickets import businesstime as bt
from tickets.models import (
    FIRED_FIELD,
    BusinessCalendar,
    Clock,
    EscalationRule,
    SLAPolicy,
    SLATimer,
    Status,
    Target,
    Ticket,
    TimerKind,
)
from tickets.services.calendars import calendar_spec

DUE_FIELD = {
    Target.FIRST_RESPONSE: "first_response_due",
    Target.NEXT_REPLY: "next_reply_due",
    Target.RESOLUTION: "resolution_due",
}
SLA_FIELDS = [
    "sla_policy",
    "contract_tier",
    "first_response_due",
    "next_reply_due",
    "resolution_due",
    "sla_paused_at",
    "sla_remaining",
]


@dataclass(frozen=True)
class Plan:
    policy: SLAPolicy
    clock: bt.AroundTheClock | bt.BusinessClock


# Policies with their calendar and rules, cached per process (every new ticket needs one;
# they change rarely). Saves in this process clear the cache; other processes see a change
# within the TTL.
POLICY_CACHE_TTL_S = 60
_policies: dict[tuple[str, int], tuple[float, SLAPolicy]] = {}
_policies_lock = threading.Lock()


def clear_policy_cache(**_kwargs: Any) -> None:
    with _policies_lock:
        _policies.clear()


for _model in (SLAPolicy, EscalationRule, BusinessCalendar):
    for _signal in (post_save, post_delete):
        _signal.connect(clear_policy_cache, sender=_model, dispatch_uid=f"sla.{_model}.{_signal}")


def policy_for(*, tier: str, priority: int) -> SLAPolicy | None:
    """Return the policy for a contract tier and priority, with its calendar and rules."""
    key = (tier, priority)
    now = time.monotonic()
    hit = _policies.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    policy = (
        SLAPolicy.objects.select_related("calendar")
        .prefetch_related("rules")
        .filter(tier=tier, priority=priority)
        .first()
    )
    if policy is not None:
        with _policies_lock:
            _policies[key] = (now + POLICY_CACHE_TTL_S, policy)
    return policy


def policy_by_id(pk: int) -> SLAPolicy | None:
    """Return a policy with its calendar and rules by id, from the same cache."""
    now = time.monotonic()
    for expires, policy in list(_policies.values()):
        if policy.pk == pk and expires > now:
            return policy
    policy = (
        SLAPolicy.objects.select_related("calendar").prefetch_related("rules").filter(pk=pk).first()
    )
    if policy is not None:
        with _policies_lock:
            _policies[(policy.tier, policy.priority)] = (now + POLICY_CACHE_TTL_S, policy)
    return policy


def clock_for(policy: SLAPolicy) -> bt.AroundTheClock | bt.BusinessClock:
    if policy.clock == Clock.BUSINESS and policy.calendar is not None:
        return bt.BusinessClock(calendar_spec(policy.calendar))
    return bt.AroundTheClock()


def _plan(ticket: Ticket) -> Plan | None:
    if ticket.sla_policy_id is None:
        return None
    policy = policy_by_id(ticket.sla_policy_id)
    if policy is None:
        return None
    return Plan(policy=policy, clock=clock_for(policy))


def budget(policy: SLAPolicy, target: str) -> int:
    return policy.minutes_for(target) * 60


def thresholds(policy: SLAPolicy, target: str) -> list[tuple[str, int, object]]:
    """Return (kind, percent, rule) for every threshold of a target, in order."""
    marks: list[tuple[str, int, object]] = [
        (TimerKind.WARNING, policy.warning_percent, None),
        (TimerKind.BREACH, 100, None),
    ]
    marks += [(TimerKind.RULE, r.percent, r) for r in policy.rules.all() if r.target == target]
    return sorted(marks, key=lambda m: (m[1], m[0]))


def _timers(
    ticket: Ticket,
    plan: Plan,
    target: str,
    *,
    anchor: dt.datetime,
    consumed: float,
    fired: int = 0,
) -> list[SLATimer]:
    """The timers of a target's thresholds above `fired` (percent), from `anchor` on.

    Thresholds fire in the order of their percent (the clock only moves forward), so the
    highest one fired says which have: a rebuilt clock skips those at or below it.
    """
    total = budget(plan.policy, target)
    out = []
    for kind, percent, rule in thresholds(plan.policy, target):
        if percent <= fired:
            continue
        offset = total * percent / 100 - consumed
        fire_at = plan.clock.add(anchor, offset) if offset > 0 else anchor
        out.append(
            SLATimer(
                ticket=ticket, target=target, kind=kind, percent=percent, rule=rule, fire_at=fire_at
            )
        )
    return out


def _drop_pending(ticket: Ticket, targets: list[str] | None = None) -> None:
    qs = SLATimer.objects.filter(ticket=ticket)
    if targets is not None:
        qs = qs.filter(target__in=targets)
    qs.delete()


def running_targets(ticket: Ticket) -> list[str]:
    targets = []
    if ticket.first_responded_at is None:
        targets.append(Target.FIRST_RESPONSE)
    if ticket.next_reply_due is not None:
        targets.append(Target.NEXT_REPLY)
    if ticket.resolved_at is None:
        targets.append(Target.RESOLUTION)
    return targets


def next_due(ticket: Ticket) -> dt.datetime | None:
    """The due time of the nearest running target, or None when no clock runs.

    Stored as `Ticket.sla_next_due` so the list can sort by urgency in SQL, with an index,
    at any size: the earliest due time first puts overdue tickets on top (their due time is
    past), then the least time left. A stopped clock (paused, resolved, closed) or no SLA is
    None and sorts last. The same targets as the countdown (selectors.running_due_times).
    Wall-clock due instants, not working seconds: two policies on different calendars still
    compare, and the instant is what does not move while the ticket waits in the list.
    """
    if ticket.sla_policy_id is None or ticket.sla_paused_at is not None:
        return None
    if ticket.status in (Status.RESOLVED, Status.CLOSED):
        return None
    due = []
    if ticket.first_responded_at is None and ticket.first_response_due:
        due.append(ticket.first_response_due)
    if ticket.next_reply_due:
        due.append(ticket.next_reply_due)
    if ticket.resolved_at is None and ticket.resolution_due:
        due.append(ticket.resolution_due)
    return min(due, default=None)


def sla_track(ticket: Ticket) -> list[str]:
    """Set the ticket's `sla_next_due` from its SLA fields; the field name to save."""
    ticket.sla_next_due = next_due(ticket)
    return ["sla_next_due"]


# ---------------------------------------------------------------- lifecycle


def sla_plan(ticket: Ticket, *, tier: str, now: dt.datetime) -> Plan | None:
    """Choose the policy for a new ticket and set its due times (before it is inserted)."""
    policy = policy_for(tier=tier, priority=ticket.priority)
    ticket.sla_policy = policy
    ticket.contract_tier = tier
    if policy is None:
        return None
    plan = Plan(policy=policy, clock=clock_for(policy))
    ticket.first_response_due = plan.clock.add(now, budget(policy, Target.FIRST_RESPONSE))
    ticket.resolution_due = plan.clock.add(now, budget(policy, Target.RESOLUTION))
    return plan


def sla_timers_new(ticket: Ticket, plan: Plan | None, *, now: dt.datetime) -> list[SLATimer]:
    """The timers of a new ticket, unsaved (the caller writes them with its other rows)."""
    if plan is None:
        return []
    timers = []
    for target in (Target.FIRST_RESPONSE, Target.RESOLUTION):
        timers += _timers(ticket, plan, target, anchor=now, consumed=0)
    return timers


def sla_arm(ticket: Ticket, plan: Plan | None, *, now: dt.datetime) -> None:
    """Write the timers of a newly inserted ticket."""
    timers = sla_timers_new(ticket, plan, now=now)
    if timers:
        SLATimer.objects.bulk_create(timers)


def sla_pause(ticket: Ticket, *, now: dt.datetime) -> list[str]:
    """Stop the clock, keeping the working time left on every running target."""
    plan = _plan(ticket)
    if plan is None or ticket.sla_paused_at is not None:
        return []
    targets = running_targets(ticket)
    ticket.sla_remaining = {
        t: plan.clock.between(now, getattr(ticket, DUE_FIELD[t])) for t in targets
    }
    ticket.sla_paused_at = now
    _drop_pending(ticket)
    return ["sla_remaining", "sla_paused_at"]


def sla_resume(ticket: Ticket, *, now: dt.datetime) -> list[str]:
    """Start the clock again with the time that remained when it stopped."""
    plan = _plan(ticket)
    if plan is None or ticket.sla_paused_at is None:
        return []
    remaining = dict(ticket.sla_remaining or {})
    timers = []
    changed = ["sla_remaining", "sla_paused_at"]
    for target, left in remaining.items():
        setattr(ticket, DUE_FIELD[target], plan.clock.add(now, left))
        changed.append(DUE_FIELD[target])
        consumed = budget(plan.policy, target) - left
        fired = getattr(ticket, FIRED_FIELD[target])
        timers += _timers(ticket, plan, target, anchor=now, consumed=consumed, fired=fired)
    _drop_pending(ticket)
    SLATimer.objects.bulk_create(timers)
    ticket.sla_remaining = {}
    ticket.sla_paused_at = None
    return changed


def sla_reprice(ticket: Ticket, *, tier: str, now: dt.datetime) -> list[str]:
    """Apply the policy of a new priority or tier, keeping the working time already used."""
    old = _plan(ticket)
    policy = policy_for(tier=tier, priority=ticket.priority)
    ticket.sla_policy, ticket.contract_tier = policy, tier
    changed = ["sla_policy", "contract_tier"]
    if policy is None:
        _drop_pending(ticket)
        return changed
    new = Plan(policy=policy, clock=clock_for(policy))
    targets = running_targets(ticket)
    if old is None:
        used = dict.fromkeys(targets, 0.0)
    elif ticket.sla_paused_at is not None:
        used = {
            t: budget(old.policy, t) - (ticket.sla_remaining or {}).get(t, 0.0) for t in targets
        }
    else:
        used = {
            t: budget(old.policy, t) - old.clock.between(now, getattr(ticket, DUE_FIELD[t]))
            for t in targets
        }
    if ticket.sla_paused_at is not None:
        ticket.sla_remaining = {t: budget(policy, t) - used[t] for t in targets}
        return [*changed, "sla_remaining"]
    timers = []
    for target in targets:
        left = budget(policy, target) - used[target]
        setattr(ticket, DUE_FIELD[target], new.clock.add(now, left))
        changed.append(DUE_FIELD[target])
        fired = getattr(ticket, FIRED_FIELD[target])
        timers += _timers(ticket, new, target, anchor=now, consumed=used[target], fired=fired)
    _drop_pending(ticket)
    SLATimer.objects.bulk_create(timers)
    return changed


def _met(ticket: Ticket, target: str, now: dt.datetime) -> bool:
    if ticket.sla_paused_at is not None:
        return (ticket.sla_remaining or {}).get(target, 0.0) >= 0
    due = getattr(ticket, DUE_FIELD[target])
    return due is None or now <= due


def sla_agent_replied(ticket: Ticket, *, now: dt.datetime) -> list[str]:
    """Record a public agent reply: the first response, and the next reply if one was due."""
    changed: list[str] = []
    done = []
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now
        ticket.first_response_met = _met(ticket, Target.FIRST_RESPONSE, now)
        changed += ["first_responded_at", "first_response_met"]
        done.append(Target.FIRST_RESPONSE)
    if ticket.next_reply_due is not None:
        if not _met(ticket, Target.NEXT_REPLY, now):
            ticket.next_reply_breached = True
            changed.append("next_reply_breached")
        ticket.next_reply_due = None
        changed.append("next_reply_due")
        done.append(Target.NEXT_REPLY)
    if done and ticket.sla_policy_id:
        if ticket.sla_remaining:
            ticket.sla_remaining = {t: v for t, v in ticket.sla_remaining.items() if t not in done}
            changed.append("sla_remaining")
        _drop_pending(ticket, done)
    return changed


def sla_customer_wrote(ticket: Ticket, *, now: dt.datetime) -> list[str]:
    """Start the next-reply target after a customer message (once first response is done)."""
    plan = _plan(ticket)
    if plan is None or ticket.first_responded_at is None or ticket.next_reply_due is not None:
        return []
    ticket.next_reply_due = plan.clock.add(now, budget(plan.policy, Target.NEXT_REPLY))
    changed = ["next_reply_due"]
    if ticket.next_reply_fired:
        ticket.next_reply_fired = 0  # a new next-reply cycle: its thresholds fire again
        changed.append("next_reply_fired")
    _drop_pending(ticket, [Target.NEXT_REPLY])
    SLATimer.objects.bulk_create(_timers(ticket, plan, Target.NEXT_REPLY, anchor=now, consumed=0))
    return changed


def sla_resolved(ticket: Ticket, *, now: dt.datetime) -> list[str]:
    """Record whether resolution was met, and stop the clock so a reopen can resume it."""
    if ticket.sla_policy_id is None:
        return []
    changed = ["resolution_met"]
    ticket.resolution_met = _met(ticket, Target.RESOLUTION, now)
    changed += sla_pause(ticket, now=now)
    return changed


def sla_closed(ticket: Ticket) -> list[str]:
    """A closed ticket has no clock left."""
    _drop_pending(ticket)
    ticket.sla_remaining = {}
    return ["sla_remaining"]
