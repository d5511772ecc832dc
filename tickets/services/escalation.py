"""The SLA scan: fire every due timer with set-based queries, then escalate in bulk.

One indexed query finds the due timers (`fire_at <= now` among the pending ones); warnings,
breaches and each escalation rule are applied as one UPDATE per kind of change; notifications
are coalesced into one message per recipient per run; the audit rows are appended in one pass.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from audit.services import audit_record_many
from tickets import links
from tickets.models import (
    ACTIVE_STATUSES,
    EscalationRule,
    Priority,
    SLATimer,
    Target,
    Ticket,
    TimerKind,
)
from tickets.services import notify

BATCH = 5000


def sla_scan(*, now: dt.datetime | None = None, batch: int = BATCH) -> dict[str, int]:
    """Fire all due timers, in batches; return counts of what happened."""
    now = now or timezone.now()
    totals: dict[str, int] = defaultdict(int)
    while True:
        selected, counts = _scan_batch(now=now, batch=batch)
        for key, value in counts.items():
            totals[key] += value
        # Stop after the last batch, or when the due timers left all belong to tickets that
        # are being edited (they are picked up by the next run).
        if selected < batch or counts["timers"] == 0:
            break
    return dict(totals)


@transaction.atomic
def _scan_batch(*, now: dt.datetime, batch: int) -> tuple[int, dict[str, int]]:
    skip_locked = connection.features.has_select_for_update_skip_locked
    due = SLATimer.objects.filter(fired_at__isnull=True, fire_at__lte=now).order_by("fire_at")
    if skip_locked:
        due = due.select_for_update(skip_locked=True)
    rows = list(due.values_list("pk", "ticket_id", "target", "kind", "percent", "rule_id")[:batch])
    selected = len(rows)
    counts = {"timers": 0, "warnings": 0, "breaches": 0, "escalations": 0}
    if not rows:
        return selected, counts
    tickets = Ticket.objects.filter(pk__in={r[1] for r in rows})
    if skip_locked:
        # A ticket service locks the ticket and then deletes its pending timers, the reverse
        # of our order: waiting for its row would deadlock. Its timers wait for the next run.
        tickets = tickets.select_for_update(skip_locked=True)
    status = dict(tickets.values_list("pk", "status"))
    rows = [r for r in rows if r[1] in status]
    counts["timers"] = len(rows)
    if not rows:
        return selected, counts
    SLATimer.objects.filter(pk__in=[r[0] for r in rows]).update(fired_at=now)
    rows = [r for r in rows if status[r[1]] in ACTIVE_STATUSES]

    warned = {r[1] for r in rows if r[3] == TimerKind.WARNING}
    breached: dict[str, set[int]] = defaultdict(set)
    by_rule: dict[int, set[int]] = defaultdict(set)
    for _pk, ticket_id, target, kind, _percent, rule_id in rows:
        if kind == TimerKind.BREACH:
            breached[target].add(ticket_id)
        elif kind == TimerKind.RULE and rule_id:
            by_rule[rule_id].add(ticket_id)

    if warned:
        counts["warnings"] = Ticket.objects.filter(pk__in=warned).update(sla_warning=True)
    for target, ids in breached.items():
        extra = {}
        if target == Target.FIRST_RESPONSE:
            extra["first_response_met"] = False
        elif target == Target.NEXT_REPLY:
            extra["next_reply_breached"] = True
        counts["breaches"] += Ticket.objects.filter(pk__in=ids).update(
            sla_breached=True, sla_warning=True, **extra
        )

    rules = {r.pk: r for r in EscalationRule.objects.filter(pk__in=by_rule)}
    notify_assignee: set[int] = set()
    notify_supervisor: set[int] = set()
    applied: list[tuple[EscalationRule, set[int]]] = []
    for rule_id, ids in by_rule.items():
        rule = rules.get(rule_id)
        if rule is None:
            continue
        qs = Ticket.objects.filter(pk__in=ids)
        updates: dict = {
            "escalation_level": Greatest(F("escalation_level"), rule.level),
            "version": F("version") + 1,
        }
        if rule.reassign_to_id:
            updates["assignee_id"] = rule.reassign_to_id
        if rule.move_to_queue_id:
            updates["queue_id"] = rule.move_to_queue_id
        counts["escalations"] += qs.update(**updates)
        if rule.raise_priority:
            qs.filter(priority__gt=Priority.P1).update(priority=F("priority") - 1)
        if rule.notify_assignee:
            notify_assignee |= ids
        if rule.notify_supervisor:
            notify_supervisor |= ids
        applied.append((rule, ids))

    _notify(now, rows, notify_assignee, notify_supervisor)
    _audit(warned, breached, applied)
    return selected, counts


def _notify(now, rows, assignee_ids: set[int], supervisor_ids: set[int]) -> None:
    wanted = assignee_ids | supervisor_ids
    if not wanted:
        return
    fired = {}
    for _pk, ticket_id, target, kind, percent, _rule in rows:
        if kind == TimerKind.RULE:
            fired[ticket_id] = (target, percent)
    tickets = list(
        Ticket.objects.filter(pk__in=wanted).values(
            "pk",
            "reference",
            "priority",
            "assignee_id",
            "queue__supervisor_id",
            "first_response_due",
            "next_reply_due",
            "resolution_due",
        )
    )
    inbox: dict[int, list[dict]] = defaultdict(list)
    listed: set[tuple[int, int]] = set()  # (recipient, ticket): a recipient sees a ticket once
    for t in tickets:
        target, percent = fired.get(t["pk"], (Target.RESOLUTION, 100))
        item = {
            "reference": t["reference"],
            "priority": f"P{t['priority']}",
            # Lazy: rendered in each recipient's language, not the scanner's.
            "target": Target(target).label,
            "percent": percent,
            "due": t[f"{target}_due"],
            "link": links.agent_ticket_url(t["pk"]),
        }
        recipients = []
        if t["pk"] in assignee_ids and t["assignee_id"]:
            recipients.append(t["assignee_id"])
        if t["pk"] in supervisor_ids and t["queue__supervisor_id"]:
            recipients.append(t["queue__supervisor_id"])
        for user_id in recipients:
            if (user_id, t["pk"]) not in listed:
                listed.add((user_id, t["pk"]))
                inbox[user_id].append(item)
    run = uuid.uuid4().hex[:12]
    users = get_user_model().objects.in_bulk(list(inbox))
    for user_id, items in inbox.items():
        user = users.get(user_id)
        if user is not None:
            notify.notify_escalation(
                key=f"sla-escalation:{now:%Y%m%d%H%M}:{run}:{user_id}", recipient=user, items=items
            )


def _audit(
    warned: set[int],
    breached: dict[str, set[int]],
    applied: list[tuple[EscalationRule, set[int]]],
) -> None:
    if warned:
        audit_record_many(
            action="ticket.sla_warning", targets=[Ticket(pk=pk) for pk in sorted(warned)]
        )
    for target, ids in breached.items():
        audit_record_many(
            action="ticket.sla_breached",
            targets=[Ticket(pk=pk) for pk in sorted(ids)],
            data={"target": target},
        )
    # One event per rule and ticket: when several rules fire for a ticket in one run (a late
    # scan), each one's changes are on record, not only the last one's.
    for rule, ids in applied:
        audit_record_many(
            action="ticket.escalated",
            targets=[Ticket(pk=pk) for pk in sorted(ids)],
            data={
                "level": rule.level,
                "target": rule.target,
                "percent": rule.percent,
                "rule": rule.pk,
            },
        )
