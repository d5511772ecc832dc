"""The SLA scan: fire every due timer with set-based queries, then escalate in bulk.

One indexed query takes the due timers and one their tickets (both SKIP LOCKED on
PostgreSQL). What fired is folded per ticket, so each ticket row is rewritten once, by one
UPDATE per distinct change (a few dozen statements whatever the number of tickets). Every
warning, breach and rule that fired is one audit event naming its ticket, written in one
statement per kind; each recipient gets one notice per run, in their language, listing the
most urgent tickets and linking to the rest. Sets of ids travel as one array parameter, never
as thousands of bound values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import selectors as account_selectors
from audit.services import audit_record_sets
from tickets import links
from tickets.models import (
    ACTIVE_STATUSES,
    EscalationRule,
    SLATimer,
    Target,
    Ticket,
    TimerKind,
)
from tickets.services import assignment, live, notify
from tickets.services.idsets import among, ids_param, ids_sql

# One transaction takes at most this many due timers. A minute's worth is a few dozen; the
# batch is large so that a backlog (hours of a stopped scanner) is still one run with one
# notice per recipient.
BATCH = 50_000
# A notice lists this many tickets, the most urgent first, and links to the rest.
NOTICE_ITEMS = 100
_NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)  # sorts a ticket without a due time last


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


@dataclasses.dataclass(slots=True)
class _Effect:
    """What the timers fired in one batch do to one ticket."""

    warning: bool = False
    breached: frozenset[str] = frozenset()
    level: int = 0
    rules: int = 0
    raises: int = 0
    assignee_id: int | None = None
    queue_id: int | None = None
    notify_assignee: bool = False
    notify_supervisor: bool = False
    # The target and percent of the last rule that fired, shown in the notice.
    noticed: tuple[str, int] | None = None
    # Per target, the highest threshold (percent) that fired: Ticket.<target>_fired.
    fired: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Batch:
    effects: dict[int, _Effect]
    warned: list[int]
    breached: dict[str, list[int]]
    escalated: list[tuple[EscalationRule, list[int]]]


@transaction.atomic
def _scan_batch(*, now: dt.datetime, batch: int) -> tuple[int, dict[str, int]]:
    counts = {"timers": 0, "warnings": 0, "breaches": 0, "escalations": 0}
    selected, rows, regions = _claim(now=now, batch=batch)
    counts["timers"] = len(rows)
    if not rows:
        return selected, counts
    fired = _fold(rows)
    counts["warnings"] = len(fired.warned)
    counts["breaches"] = sum(len(ids) for ids in fired.breached.values())
    counts["escalations"] = sum(len(ids) for _rule, ids in fired.escalated)
    _apply(fired.effects)
    live.tickets_changed(fired.effects, "sla", regions=regions)
    _notify(now, fired.effects)
    _audit(fired)
    return selected, counts


def _claim(*, now: dt.datetime, batch: int) -> tuple[int, list[tuple], dict[int, int | None]]:
    """Lock and fire the due timers of tickets nobody is editing.

    Return how many due timers were selected, the fired ones as (ticket_id, target, kind,
    percent, rule_id, ticket status), oldest first, and the region of each ticket locked
    (read with the lock, for the live events, instead of by ids again after commit).
    """
    skip_locked = connection.features.has_select_for_update_skip_locked
    due = SLATimer.objects.filter(fire_at__lte=now).order_by("fire_at")
    if skip_locked:
        due = due.select_for_update(skip_locked=True)
    timers = list(
        due.values_list("pk", "ticket_id", "target", "kind", "percent", "rule_id")[:batch]
    )
    if not timers:
        return 0, [], {}
    tickets = Ticket.objects.filter(pk__in=among({t[1] for t in timers})).order_by()
    if skip_locked:
        # A ticket service locks the ticket and then deletes its pending timers, the reverse
        # of our order: waiting for its row would deadlock. Its timers wait for the next run.
        tickets = tickets.select_for_update(skip_locked=True, of=("self",))
    status, regions = {}, {}
    for pk, ticket_status, region_id in tickets.values_list(
        "pk", "status", "organisation__region_id"
    ):
        status[pk], regions[pk] = ticket_status, region_id
    rows = [(*t[1:], status[t[1]]) for t in timers if t[1] in status]
    if rows:
        # A fired timer is deleted (its threshold is recorded on the ticket by _apply): a
        # delete writes no index entries, where marking it fired rewrote the row and them.
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {SLATimer._meta.db_table} WHERE id IN ({ids_sql()})",  # noqa: S608
                [ids_param(t[0] for t in timers if t[1] in status)],
            )
    return len(timers), rows, regions


def _fold(rows: list[tuple]) -> _Batch:
    """Fold the fired timers of active tickets into one effect per ticket, and audit sets."""
    rule_ids = {r[4] for r in rows if r[4]}
    rules = EscalationRule.objects.in_bulk(rule_ids) if rule_ids else {}
    active = {str(status) for status in ACTIVE_STATUSES}
    warning, breach, rule_kind = str(TimerKind.WARNING), str(TimerKind.BREACH), str(TimerKind.RULE)
    effects: dict[int, _Effect] = {}
    warned: set[int] = set()
    breached: dict[str, set[int]] = defaultdict(set)
    by_rule: dict[int, set[int]] = defaultdict(set)
    # Oldest first: when several rules fire for a ticket in one run (a late scan), the last
    # one's reassignment and queue stand, as if each had fired on time.
    for ticket_id, target, kind, percent, rule_id, status in rows:
        if status not in active:
            continue
        effect = effects.get(ticket_id)
        if effect is None:
            effect = effects[ticket_id] = _Effect()
        effect.fired[target] = max(effect.fired.get(target, 0), percent)
        if kind == warning:
            effect.warning = True
            warned.add(ticket_id)
        elif kind == breach:
            effect.breached |= {target}
            breached[target].add(ticket_id)
        elif kind == rule_kind and rule_id in rules:
            rule = rules[rule_id]
            effect.level = max(effect.level, rule.level)
            effect.rules += 1
            effect.raises += rule.raise_priority
            effect.assignee_id = rule.reassign_to_id or effect.assignee_id
            effect.queue_id = rule.move_to_queue_id or effect.queue_id
            effect.notify_assignee |= rule.notify_assignee
            effect.notify_supervisor |= rule.notify_supervisor
            effect.noticed = (target, percent)
            by_rule[rule_id].add(ticket_id)
    return _Batch(
        effects=effects,
        warned=sorted(warned),
        breached={target: sorted(ids) for target, ids in breached.items()},
        escalated=[(rules[pk], sorted(ids)) for pk, ids in by_rule.items()],
    )


def _apply(effects: dict[int, _Effect]) -> None:
    """Write every ticket's change and fired thresholds in one UPDATE, values from arrays."""
    if not effects:
        return
    # Reassignments move the tickets between the agents' load counts (read before the update).
    moved = {pk: e.assignee_id for pk, e in effects.items() if e.assignee_id}
    if moved:
        deltas: dict[int | None, int] = defaultdict(int)
        for pk, old in Ticket.objects.filter(pk__in=among(list(moved))).values_list(
            "pk", "assignee_id"
        ):
            if old != moved[pk]:
                deltas[old] -= 1
                deltas[moved[pk]] += 1
        assignment.load_adjust(dict(deltas))
    first, nxt, res = str(Target.FIRST_RESPONSE), str(Target.NEXT_REPLY), str(Target.RESOLUTION)
    rows = [
        [
            pk,
            e.warning or bool(e.breached),
            bool(e.breached),
            first in e.breached,
            nxt in e.breached,
            e.level,
            e.rules,
            e.raises,
            e.assignee_id,
            e.queue_id,
            e.fired.get(first, 0),
            e.fired.get(nxt, 0),
            e.fired.get(res, 0),
        ]
        for pk, e in sorted(effects.items())  # key order: pages visited in index order
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_UPDATE_PG, [_array(column) for column in zip(*rows, strict=True)])
        else:
            cursor.execute(_UPDATE_SQLITE, [json.dumps(rows)])


def _array(values: Iterable[int | bool | None]) -> str:
    """A PostgreSQL array literal of numbers, booleans and NULLs: psycopg adapts a list one
    element at a time, which for 13 columns of 20,000 tickets took a tenth of the scan."""
    return (
        "{"
        + ",".join(
            "NULL" if v is None else ("t" if v else "f") if isinstance(v, bool) else str(v)
            for v in values
        )
        + "}"
    )


# Each column keeps its value unless this run changes it. A level never drops; each rule that
# fired is one change of the ticket (version); each rule that raises priority is one step,
# never past P1. Reassignment and queue moves of the last rule that fired stand.
_SET = """
    sla_warning = {t}.sla_warning OR v.warning,
    sla_breached = {t}.sla_breached OR v.breached,
    first_response_met = CASE WHEN v.first_breached THEN FALSE ELSE {t}.first_response_met END,
    next_reply_breached = {t}.next_reply_breached OR v.next_breached,
    escalation_level = {greatest}({t}.escalation_level, v.level),
    version = {t}.version + v.rules,
    priority = CASE WHEN v.raises > 0 AND {t}.priority > 1
        THEN {greatest}({t}.priority - v.raises, 1) ELSE {t}.priority END,
    assignee_id = COALESCE(v.assignee_id, {t}.assignee_id),
    queue_id = COALESCE(v.queue_id, {t}.queue_id),
    first_response_fired = {greatest}({t}.first_response_fired, v.first_fired),
    next_reply_fired = {greatest}({t}.next_reply_fired, v.next_fired),
    resolution_fired = {greatest}({t}.resolution_fired, v.resolution_fired)
"""
_COLUMNS = (
    "id, warning, breached, first_breached, next_breached, level, rules, raises, assignee_id,"
    " queue_id, first_fired, next_fired, resolution_fired"
)
# Constant SQL; every value is bound.
_UPDATE_PG = (
    "UPDATE tickets_ticket AS t SET "  # noqa: S608
    + _SET.format(t="t", greatest="GREATEST")
    + " FROM unnest(%s::bigint[], %s::bool[], %s::bool[], %s::bool[], %s::bool[], %s::int[],"
    " %s::int[], %s::int[], %s::bigint[], %s::bigint[], %s::int[], %s::int[], %s::int[])"
    f" AS v({_COLUMNS}) WHERE t.id = v.id"
)
_UPDATE_SQLITE = (
    "UPDATE tickets_ticket SET "  # noqa: S608
    + _SET.format(t="tickets_ticket", greatest="MAX")
    + " FROM (SELECT "
    + ", ".join(
        f"json_extract(value, '$[{i}]') AS {name.strip()}"
        for i, name in enumerate(_COLUMNS.split(","))
    )
    + " FROM json_each(%s)) AS v WHERE tickets_ticket.id = v.id"
)


def _notify(now: dt.datetime, effects: dict[int, _Effect]) -> None:
    """Send one notice per recipient: the most urgent tickets, the count and a link to all."""
    wanted: dict[str, list[int]] = defaultdict(list)  # by the target the notice shows
    for pk, effect in effects.items():
        if effect.noticed and (effect.notify_assignee or effect.notify_supervisor):
            wanted[effect.noticed[0]].append(pk)
    if not wanted:
        return
    inbox: dict[int, list[tuple]] = defaultdict(list)
    queues: dict[int, set[int]] = defaultdict(set)  # a supervisor's queues, for the link
    assigned: set[int] = set()  # recipients told as assignee
    for target, ids in wanted.items():
        # After the update: a reassigned ticket's new assignee and the supervisor of the
        # queue it now sits in are told; the former ones are not.
        rows = (
            Ticket.objects.filter(pk__in=among(ids))
            .order_by()
            .values_list(
                "pk",
                "reference",
                "priority",
                "assignee_id",
                "queue_id",
                "queue__supervisor_id",
                f"{target}_due",
            )
        )
        for pk, reference, priority, assignee_id, queue_id, supervisor_id, due in rows:
            effect = effects[pk]
            item = ((priority, due or _NEVER, reference), pk, due)
            told = []  # a recipient sees a ticket once, even as its assignee and supervisor
            if effect.notify_assignee and assignee_id:
                told.append(assignee_id)
                assigned.add(assignee_id)
            if effect.notify_supervisor and supervisor_id and supervisor_id not in told:
                told.append(supervisor_id)
                queues[supervisor_id].add(queue_id)
            for user_id in told:
                inbox[user_id].append(item)
    run = uuid.uuid4().hex[:12]
    users = account_selectors.users_by_id(inbox)
    changelist = settings.SITE_URL + reverse("admin:tickets_ticket_changelist")
    ticket_url = _ticket_url()
    notices: list[dict[str, Any]] = []
    for user_id, entries in inbox.items():
        user = users.get(user_id)
        if user is None:
            continue
        listed = heapq.nsmallest(NOTICE_ITEMS, entries, key=lambda entry: entry[0])
        items = []
        for (priority, _due, reference), pk, due in listed:
            target, percent = effects[pk].noticed
            items.append(
                {
                    "reference": reference,
                    "priority": f"P{priority}",
                    "target": target,
                    "percent": percent,
                    "due": due,
                    "link": ticket_url(pk),
                }
            )
        more_links = []
        if len(entries) > len(items):
            more_links = _list_links(
                changelist,
                mine=user_id in assigned,
                queues=queues.get(user_id, set()),
                level=min(effects[pk].level for _key, pk, _due in entries),
            )
        notices.append(
            {
                "key": f"sla-escalation:{now:%Y%m%d%H%M}:{run}:{user_id}",
                "recipient": user,
                "items": items,
                "total": len(entries),
                "more_links": more_links,
            }
        )
    # One insert for the run's notices, one publish of them all after commit.
    notify.hand_over(notify.notify_escalations(notices))


def _ticket_url() -> Callable[[int], str]:
    """Return a maker of agent ticket links that reverses the URL once, not once per link.

    A notice run lists thousands of tickets, and reverse() costs more than the rest of a line.
    """
    mark = "9" * 18
    head, *rest = links.agent_ticket_url(int(mark)).split(mark)
    if len(rest) != 1:  # the id is not a plain path segment: reverse each one
        return links.agent_ticket_url
    return lambda pk: f"{head}{pk}{rest[0]}"


def _list_links(changelist: str, *, mine: bool, queues: set[int], level: int) -> list[str]:
    """Links to the admin list of the escalated tickets a notice cannot list one by one.

    The list filters on what the scan just made true of every such ticket (still active,
    escalated to at least the lowest level named) and on why the recipient was told: as
    assignee ("assigned to me", the list's own filter) or as supervisor of those queues.
    """
    common = f"status__in={','.join(ACTIVE_STATUSES)}"
    if level:
        common += f"&escalation_level__gte={level}"
    urls = []
    if mine:
        urls.append(f"{changelist}?assigned=mine&{common}")
    if queues:
        urls.append(f"{changelist}?queue__id__in={','.join(map(str, sorted(queues)))}&{common}")
    return urls


def _audit(fired: _Batch) -> None:
    """Write one event per ticket and what fired for it, sealed into the chain in one pass.

    An auditor finds each ticket's warning, breach and escalation by its target like any
    other event. The scan chains its own events in its transaction (audit_record_sets with
    seal=True: four statements, hashed from the values in hand in the form PostgreSQL stores
    them) instead of leaving tens of thousands of pending rows for the sealer to read back,
    hash and move: half the work.
    It holds the chain head only from here to its commit.
    """
    sets: list[dict[str, Any]] = []
    if fired.warned:
        sets.append({"action": "ticket.sla_warning", "model": Ticket, "target_ids": fired.warned})
    for target, ids in fired.breached.items():
        sets.append(
            {
                "action": "ticket.sla_breached",
                "model": Ticket,
                "target_ids": ids,
                "data": {"target": target},
            }
        )
    # One event per rule and ticket: when several rules fire for a ticket in one run (a late
    # scan), each one's changes are on record, not only the last one's.
    for rule, ids in fired.escalated:
        sets.append(
            {
                "action": "ticket.escalated",
                "model": Ticket,
                "target_ids": ids,
                "data": {
                    "level": rule.level,
                    "target": rule.target,
                    "percent": rule.percent,
                    "rule": rule.pk,
                },
            }
        )
    audit_record_sets(sets, seal=True)
