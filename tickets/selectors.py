"""Reads of tickets, always scoped to the asking user."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import (
    Avg,
    Case,
    Count,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from prometheus_client.core import GaugeMetricFamily

from accounts import roles
from accounts import selectors as account_selectors
from accounts.permissions import (
    get_scoped_or_404,
    is_staff_member,
    scope_by_organisation,
    scoped_among,
    staff_seeing_region,
)
from core import softcache
from core.errors import LinkNotValid
from tickets import businesstime as bt
from tickets.models import (
    ACTIVE_STATUSES,
    RUNNING_STATUSES,
    Attachment,
    BusinessCalendar,
    CannedResponse,
    Clock,
    Message,
    Priority,
    QueueMember,
    SavedView,
    Status,
    Survey,
    Tag,
    Target,
    Ticket,
)
from tickets.services import sla
from tickets.services.calendars import calendar_spec


def ticket_list(
    *,
    user: Any,
    status: str | list[str] | None = None,
    search: str = "",
    priority: int | None = None,
    kind: str = "",
    unit: int | None = None,
) -> QuerySet:
    """Return the tickets the user may see, newest first, with the list's joins.

    With a search, newest first by key (`-pk`; tickets are numbered as they are opened, and
    ticket_open stamps created_at with the time of that insert): the index holds the key, so
    tickets.search.RankedPaginator takes a page's keys and the count from the index alone
    and reads only the page's rows. Ordered by created_at, PostgreSQL joined every match to
    its ticket row to sort them (a parallel scan of all tickets at a million: 640 ms for a
    word of 8,000 tickets; docs/performance.md, "Search").
    """
    qs = scope_by_organisation(
        user,
        Ticket.objects.select_related(
            "organisation", "unit__machine_model", "queue", "assignee", "requester"
        ),
    )
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else status)
    if priority:
        qs = qs.filter(priority=priority)
    if kind:
        qs = qs.filter(kind=kind)
    if unit:
        qs = qs.filter(unit_id=unit)
    if search:
        # The workspace box's search (the ticket search index, tickets.search): every typed
        # word, in any field or message, found through the index's term key. Substrings of the
        # subject or an OR across the requester's and unit's tables could only be answered by
        # reading every ticket (tickets/tests/test_search_plans.py). Internal notes count
        # for staff only. Imported here: tickets.search pages with this module's paginator.
        from tickets import search as ticket_search

        qs = ticket_search.search_tickets(qs, search, internal=is_staff_member(user))
        return qs.order_by("-pk")
    return qs.order_by("-created_at", "-pk")


class KeyFirstPaginator(Paginator):
    """Page numbers over a queryset whose page is found by primary key before rows are joined.

    A plain page is `ORDER BY ... LIMIT 50 OFFSET n` over the joined rows, so the database
    joins and throws away n rows (60,000 deep in a list of 100,000 tickets). Here the offset
    walks only the ordered keys in a subquery, and the joins run for the page's rows alone:
    still one query, the same rows in the same order.
    """

    # The count is the planner's estimate (tickets.search.RankedPaginator on a large table):
    # it does not cut the last page short, the list may hold more than it says.
    estimated = False
    # The count is a lower bound (counted up to a cap): a full page has a next one.
    count_more = False

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if not self.estimated and top + self.orphans >= self.count:
            top = self.count
        queryset = self.object_list
        if self.count_more:
            # Counted only up to a cap: one row more than the page tells whether a next
            # page exists (in the same statement), so "Next" never leads to an empty page.
            keys = queryset.values("pk")[bottom : top + 1]
            rows = list(queryset.filter(pk__in=keys))
            return OpenEndedPage(
                rows[: self.per_page], number, self, more=len(rows) > self.per_page
            )
        keys = queryset.values("pk")[bottom:top]
        return self._get_page(queryset.filter(pk__in=keys), number, self)


class OpenEndedPage(Page):
    """A page of a list counted only up to a cap (`KeyFirstPaginator.count_more`): whether
    a next page exists is known from the page's own read, not from the count."""

    def __init__(self, object_list: Any, number: int, paginator: Any, *, more: bool) -> None:
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more


def planned_rows(queryset: QuerySet) -> int | None:
    """The planner's estimate of how many rows a queryset has (PostgreSQL), or None elsewhere.

    One EXPLAIN: planning only, from the table statistics, at the same cost at a million rows
    as at ten, where COUNT(*) reads every row (or index entry) that matches.
    """
    if connection.vendor != "postgresql":
        return None
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count_unless_above(queryset: QuerySet, limit: int) -> int | None:
    """COUNT(*) of a queryset, or None without counting when its table holds more than
    `limit` rows by the statistics (pg_class.reltuples; PostgreSQL). One statement: the count
    is a subquery PostgreSQL runs only in the CASE branch that needs it, so a small desk pays
    the statement it always paid, and a large one a catalogue lookup."""
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing (e.g. an empty `__in`)
        return 0
    # The queryset's own SQL; its values stay parameters.
    statement = (
        "SELECT CASE WHEN (SELECT reltuples FROM pg_class WHERE oid = %s::regclass) > %s "  # noqa: S608
        f"THEN NULL ELSE (SELECT COUNT(*) FROM ({sql}) AS listed) END"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [queryset.model._meta.db_table, limit, *params])
        return cursor.fetchone()[0]


def capped_count(queryset: QuerySet, cap: int) -> tuple[int, bool]:
    """(how many, whether there are more than that): counts at most `cap` + 1 rows.

    A number that says how much work waits (the agents' home blocks, the portal home) needs
    only to say "100+" past a point; counting every one of an agent's 55,000 open tickets cost
    157 ms at a million tickets, and the count grew with the workload.
    """
    count = queryset.order_by()[: cap + 1].count()
    return min(count, cap), count > cap


def urgency_ordering() -> list[Any]:
    """The list's default order: the nearest running due time first, stopped clocks last.

    Overdue tickets lead (their due time is past, the most overdue first), then the least
    time left on the nearest running target (first response, next reply, resolution); a
    paused, resolved or closed clock has no due time (NULL) and comes last. Ties go by key,
    so pages never shuffle. One index, ticket_next_due_idx, serves it at any list size.
    The sticky `sla_breached` flag does not lift a ticket: it records a target missed in
    the past (a late first response stays late after the reply), and a ticket whose
    running target still has time left is less urgent than one about to breach (the
    countdown colours the same way).
    """
    return [F("sla_next_due").asc(nulls_last=True), "pk"]


def _priority_service(now: dt.datetime) -> Any:
    return Case(
        When(priority_until__gt=now, then=Value(0)), default=Value(1), output_field=IntegerField()
    )


def queue_ordering(*, now: dt.datetime) -> list[Any]:
    """The order of a queue (and of "Next ticket"): customers with priority service first
    while it lasts (compensation's promise that their tickets lead their queue), then
    urgency."""
    return [_priority_service(now).asc(), *urgency_ordering()]


# The named sorts of the list's sort switch (`?o=newest`); numbers in `o` are Django's columns.
LIST_SORTS = ("urgency", "newest", "priority", "updated")


def list_ordering(sort: str) -> list[Any] | None:
    """The ordering of a named sort, or None for a name the list does not know."""
    if sort == "urgency":
        return urgency_ordering()
    if sort == "newest":
        return ["-created_at", "-pk"]
    if sort == "priority":
        return ["priority", *urgency_ordering()]
    if sort == "updated":
        return ["-updated_at", "-pk"]
    return None


# How many messages a ticket page, the portal and the API's detail show at once: the latest
# ones, with a link to the earlier ones, so a ticket costs the same to open at any length.
CONVERSATION_WINDOW = 50


def conversation_skip(value: str | None) -> int | None:
    """The `skip` of a conversation link ("?skip=50"): the number of newest messages
    to pass over, 0 when absent, None when it is not a whole number from 0 to 9,999,999."""
    if value in (None, ""):
        return 0
    if not (value.isascii() and value.isdigit()) or len(value) > 7:
        return None
    return int(value)


def conversation_skip_or_400(value: str | None) -> int:
    """`conversation_skip` for the staff and customer pages: a malformed `?skip=` is a 400
    page (the API answers its own 400 in JSON), never the latest messages in its place."""
    skip = conversation_skip(value)
    if skip is None:
        raise LinkNotValid(_("This link to earlier messages is not valid."))
    return skip


def ticket_get(
    *,
    user: Any,
    pk: Any = None,
    reference: str | None = None,
    window: int | None = None,
    skip: int = 0,
) -> Ticket:
    """Return one ticket with its conversation; internal notes only for staff.

    `window`: only the latest `window` messages after skipping the `skip` newest ones (the
    page shows them oldest first; `ticket.earlier_messages` says whether older ones exist).
    None: the whole conversation, for the services that act on it.
    """
    lookup = {"pk": pk} if pk is not None else {"reference": reference}
    staff = is_staff_member(user)
    qs = Ticket.objects.select_related(
        "organisation",
        "requester",
        "unit__machine_model",
        "unit__live_status",  # the machine's own state, in the same statement
        "queue",
        "assignee",
        "fault_report__fault_code",
        "fault_report__priority_rule",
        "sla_policy__calendar",
    )
    ticket = get_scoped_or_404(user, qs, **lookup)
    messages = Message.objects.filter(ticket=ticket).select_related("author")
    if window is not None:
        # The pages and the API show an author's name (failing that, e-mail): the phone and
        # WeCom id would be decrypted for every message shown and never read.
        messages = messages.defer("author__phone", "author__wecom_id")
    if not staff:
        messages = messages.filter(internal=False)
    if window is None:
        conversation = list(messages)
        ticket.earlier_messages = False
    else:
        newest_first = list(messages.order_by("-created_at", "-pk")[skip : skip + window + 1])
        ticket.earlier_messages = len(newest_first) > window
        conversation = newest_first[:window][::-1]
    for message in conversation:
        message.ticket = ticket
    _prefetched(ticket, "messages", conversation)
    ticket.messages_skip = skip
    _gather_files(ticket, staff=staff, conversation=conversation, whole=window is None)
    _gather_tags_and_merged(ticket)
    return ticket


def conversation_links(ticket: Ticket) -> dict[str, int | None]:
    """The ?skip= of the "earlier messages" and "later messages" links of a ticket loaded with
    a window (core/_conversation_links.html); None where there is nothing more."""
    window = CONVERSATION_WINDOW
    skip = getattr(ticket, "messages_skip", 0)
    return {
        "earlier_skip": skip + window if getattr(ticket, "earlier_messages", False) else None,
        "later_skip": max(skip - window, 0) if skip else None,
    }


def _gather_files(ticket: Ticket, *, staff: bool, conversation: list[Message], whole: bool) -> None:
    """The attachments of the loaded messages and the ticket's loose files in one query, put
    where the pages read them: each message's `attachments.all()` and
    `ticket.loose_attachments` (files not on a message, such as a fault report's photos). A
    customer's never holds the files of internal notes."""
    files = Attachment.objects.filter(ticket=ticket)
    if not whole:
        files = files.filter(Q(message__isnull=True) | Q(message__in=[m.pk for m in conversation]))
    elif not staff:
        files = files.filter(Q(message__isnull=True) | Q(message__internal=False))
    by_message: dict[int | None, list[Attachment]] = {}
    for item in files:
        item.ticket = ticket
        by_message.setdefault(item.message_id, []).append(item)
    for message in ticket.messages.all():
        _prefetched(message, "attachments", by_message.get(message.pk, []))
    ticket.loose_attachments = by_message.get(None, [])


def _gather_tags_and_merged(ticket: Ticket) -> None:
    """The ticket's tags and the tickets merged into it, in one query (both are short lists
    of an id and a name): `ticket.tags.all()` and `ticket.merged_here`, newest first."""
    rows = (
        Ticket.tags.through.objects.filter(ticket_id=ticket.pk)
        .annotate(row_kind=Value("tag"))
        .order_by()
        .values_list("row_kind", "tag_id", "tag__name")
        .union(
            Ticket.objects.filter(merged_into_id=ticket.pk)
            .order_by()
            .annotate(row_kind=Value("merged"))
            .values_list("row_kind", "pk", "reference"),
            all=True,
        )
    )
    tags, merged = [], []
    for kind, pk, name in rows:
        if kind == "tag":
            tags.append(Tag(pk=pk, name=name))
        else:
            merged.append(Ticket(pk=pk, reference=name))
    _prefetched(ticket, "tags", sorted(tags, key=lambda tag: tag.name))
    ticket.merged_here = sorted(merged, key=lambda other: other.pk, reverse=True)


def _prefetched(instance: Any, relation: str, rows: list[Any]) -> None:
    """Store rows as the instance's prefetched `relation`, as prefetch_related would: its
    manager's all() then answers from them without a query."""
    queryset = getattr(instance, relation).all()
    queryset._result_cache = rows
    queryset._prefetch_done = True
    instance.__dict__.setdefault("_prefetched_objects_cache", {})[relation] = queryset


def first_answer_due(ticket: Ticket) -> dt.datetime | None:
    """When the desk's first answer is due, for the customer to see; None once it is given
    or while the clock does not run (paused while waiting for the customer, on hold, done)."""
    if ticket.first_responded_at is not None or ticket.sla_paused_at is not None:
        return None
    if ticket.status not in RUNNING_STATUSES:
        return None
    return ticket.first_response_due


def attachment_get(*, user: Any, pk: int) -> Attachment:
    """Return an attachment of a ticket the user may see; internal ones only for staff."""
    qs = Attachment.objects.select_related("ticket", "message")
    if not is_staff_member(user):
        qs = qs.filter(Q(message__isnull=True) | Q(message__internal=False))
    return get_scoped_or_404(user, qs, org_field="ticket__organisation", pk=pk)


# ------------------------------------------------------------------- agents' workspace

# Placeholders a canned response may use; anything else in braces is left as written.
CANNED_PLACEHOLDER = re.compile(r"\{(requester_name|reference|agent_name)\}")


# The ticket columns sla_countdown reads, for lists that load only what they show (`.only()`,
# with select_related("sla_policy__calendar")); a column missing here costs a query per row.
COUNTDOWN_FIELDS = (
    "status",
    "sla_paused_at",
    "sla_remaining",
    "first_responded_at",
    "first_response_due",
    "next_reply_due",
    "resolved_at",
    "resolution_due",
    "sla_breached",
    "next_reply_breached",
    "first_response_met",
    "resolution_met",
    "sla_policy__clock",
    "sla_policy__warning_percent",
    "sla_policy__first_response_minutes",
    "sla_policy__next_reply_minutes",
    "sla_policy__resolution_minutes",
    "sla_policy__calendar__timezone",
    "sla_policy__calendar__version",
    "sla_policy__calendar__updated_at",
)


@dataclass(frozen=True)
class Countdown:
    """Where a ticket stands against its SLA, for the queue list and the ticket page.

    `state` is one of ok, warning, overdue, paused, met, missed, none; `seconds` is the
    working time left on the nearest running target (negative: overdue by that much).
    """

    state: str
    seconds: float | None = None
    target: str = ""
    due: dt.datetime | None = None
    # For the page's own ticking (static/tickets/live.js): amber at this many seconds left,
    # and how long from now the clock runs without a break (None: for ever; 0: stopped).
    warn_at: float | None = None
    runs_for: float | None = 0.0


def _sla_missed(ticket: Ticket) -> bool:
    return bool(
        ticket.sla_breached
        or ticket.next_reply_breached
        or ticket.first_response_met is False
        or ticket.resolution_met is False
    )


def running_due_times(ticket: Ticket) -> list[tuple[str, dt.datetime]]:
    """Return (target, due) for every target whose clock runs, earliest first."""
    due = []
    if ticket.first_responded_at is None and ticket.first_response_due:
        due.append((Target.FIRST_RESPONSE, ticket.first_response_due))
    if ticket.next_reply_due:
        due.append((Target.NEXT_REPLY, ticket.next_reply_due))
    if ticket.resolved_at is None and ticket.resolution_due:
        due.append((Target.RESOLUTION, ticket.resolution_due))
    return sorted(due, key=lambda item: item[1])


def sla_countdown(ticket: Ticket, *, now: dt.datetime | None = None) -> Countdown:
    """Return the countdown to the ticket's nearest running due time.

    Needs `sla_policy__calendar` joined; the calendar itself comes from the per-process
    cache, so a list of tickets costs no query per row. Time left is working time, the
    unit the policy counts in; amber starts at the policy's warning share (75 % used).
    """
    if ticket.sla_policy_id is None:
        return Countdown("none")
    if ticket.status in (Status.RESOLVED, Status.CLOSED):
        return Countdown("missed" if _sla_missed(ticket) else "met")
    if ticket.sla_paused_at is not None:
        remaining = ticket.sla_remaining or {}
        if not remaining:
            return Countdown("paused")
        target = min(remaining, key=remaining.get)
        return Countdown("paused", seconds=remaining[target], target=target)
    due_times = running_due_times(ticket)
    if not due_times:
        return Countdown("met")
    now = now or timezone.now()
    target, due = due_times[0]
    policy = ticket.sla_policy
    clock = sla.clock_for(policy)
    left = clock.between(now, due)
    warn_at = sla.budget(policy, target) * (1 - policy.warning_percent / 100)
    # Coloured by the time left on the running target; the flags record what already
    # happened (a breached first response stays breached after the reply) and do not colour.
    if now > due:
        state = "overdue"
    elif left <= warn_at:
        state = "warning"
    else:
        state = "ok"
    return Countdown(
        state,
        seconds=left,
        target=target,
        due=due,
        warn_at=warn_at,
        runs_for=clock.runs_for(now),
    )


CANNED_CACHE_KEY = "tickets:canned-responses"
CANNED_CACHE_SECONDS = 300


def canned_response_list() -> list[CannedResponse]:
    """Return the active canned responses, by title.

    Every ticket page offers them, and they change a few times a month: they are kept in the
    shared cache, dropped whenever one is saved or deleted (after the commit, so nobody caches
    the old list again: tickets.apps), and at the latest after CANNED_CACHE_SECONDS. With the
    cache down they are read from the database."""
    cached = softcache.get(CANNED_CACHE_KEY)
    if cached is not None:
        return list(cached)
    found = list(CannedResponse.objects.filter(is_active=True).order_by("title"))
    softcache.set(CANNED_CACHE_KEY, found, timeout=CANNED_CACHE_SECONDS)
    return found


def forget_canned_responses() -> None:
    softcache.delete(CANNED_CACHE_KEY)


def canned_responses_changed(**_kwargs: Any) -> None:
    """Drop the cached list now and again once the change is committed (a page read in
    between cached the list as it was before): a signal receiver, tickets.apps."""
    forget_canned_responses()
    transaction.on_commit(forget_canned_responses)


def canned_response_render(*, canned: CannedResponse, ticket: Ticket, agent: Any) -> str:
    """Return the canned response in the requester's language with its placeholders filled.

    Needs the ticket's requester and organisation joined.
    """
    requester = ticket.requester
    language = getattr(requester, "language", "") or "en"
    body = canned.body_zh if language.startswith("zh") and canned.body_zh else canned.body_en
    values = {
        "requester_name": (requester.full_name if requester else "") or ticket.organisation.name,
        "reference": ticket.reference,
        "agent_name": getattr(agent, "full_name", "") or "",
    }
    return CANNED_PLACEHOLDER.sub(lambda match: values[match.group(1)], body)


# The roles of the people who work tickets: a compliance officer, or an administrator without
# one of these roles, is never offered as an assignee.
DESK_ROLES = (roles.AGENT, roles.SUPERVISOR)


def desk_staff_ids() -> QuerySet:
    """The pks of active staff with the agent or supervisor role (a subquery)."""
    return account_selectors.active_staff_ids_with_roles(DESK_ROLES)


def _by_name(people: list[Any]) -> list[Any]:
    # Names are encrypted: sorted here, not in the database.
    return sorted(people, key=lambda user: ((user.full_name or user.email).casefold(), user.pk))


def assignable_by_queue(
    *, queue_ids: Any, among: QuerySet | None = None
) -> dict[int | None, list[Any]]:
    """The people a ticket of each queue may be given to, by name, in one query per call.

    Active members of the queue (QueueMember.is_active) who are active staff with a desk role,
    and only those whose pk is in `among` when given (accounts.permissions.staff_seeing_region).
    A ticket without a queue (routing found none) may go to any such person.
    """
    wanted = set(queue_ids)
    desk = desk_staff_ids()
    if among is not None:
        desk = desk.filter(pk__in=among)
    found: dict[int | None, list[Any]] = {queue_id: [] for queue_id in wanted}
    queued = [queue_id for queue_id in wanted if queue_id is not None]
    if queued:
        members = QueueMember.objects.filter(
            queue_id__in=queued, is_active=True, agent_id__in=desk
        ).select_related("agent")
        for member in members:
            found[member.queue_id].append(member.agent)
    if None in wanted:
        found[None] = account_selectors.users_among(desk)
    return {queue_id: _by_name(people) for queue_id, people in found.items()}


def assignable_agents(*, queue_id: int | None, among: QuerySet | None = None) -> list[Any]:
    """The people one ticket (or chat) of this queue may be given to; see assignable_by_queue."""
    return assignable_by_queue(queue_ids=[queue_id], among=among)[queue_id]


def merge_people(groups: Any) -> list[Any]:
    """The people of several lists once each, by name."""
    return _by_name(list({person.pk: person for group in groups for person in group}.values()))


def ticket_assignees(ticket: Ticket) -> list[Any]:
    """The choices of a ticket's assignee form: its queue's desk agents who may see its
    customer's region (the others would get a 404 for it), and whoever has it now."""
    region_id = ticket.organisation.region_id
    agents = assignable_agents(queue_id=ticket.queue_id, among=staff_seeing_region(region_id))
    # The present assignee stays selected even when they would not be offered now (left the
    # queue): choosing them again changes nothing (ticket_assign keeps an unchanged assignee).
    if ticket.assignee_id is not None and all(a.pk != ticket.assignee_id for a in agents):
        agents.append(ticket.assignee)
    return agents


def is_assignable(*, queue_id: int | None, agent: Any) -> bool:
    """Whether the person may be given a ticket or chat of the queue (the rule above)."""
    if agent is None or not agent.is_active or not agent.is_staff:
        return False
    desk = desk_staff_ids().filter(pk=agent.pk)
    if queue_id is None:
        return desk.exists()
    return QueueMember.objects.filter(queue_id=queue_id, agent_id__in=desk, is_active=True).exists()


def _score_columns() -> dict[str, Any]:
    return {
        "sent": Count("pk"),
        "answered": Count("answered_at"),
        "average": Avg("rating"),
        **{f"rated_{n}": Count("pk", filter=Q(rating=n)) for n in range(1, 6)},
    }


def _score_row(row: dict[str, Any]) -> dict[str, Any]:
    sent, answered = row["sent"], row["answered"]
    row["response_rate"] = answered * 100 / sent if sent else None
    row["distribution"] = [(n, row.pop(f"rated_{n}")) for n in range(1, 6)]
    return row


def survey_scores(*, user: Any, since: dt.datetime | None = None) -> dict[str, Any]:
    """Return satisfaction per agent, per queue and overall for the surveys the user may see.

    Sent, answered, response rate (percent), average rating and the count of each rating,
    from grouped aggregate queries: the cost does not grow with the number of surveys.
    """
    surveys = scope_by_organisation(user, Survey.objects.all(), org_field="ticket__organisation")
    if since is not None:
        surveys = surveys.filter(sent_at__gte=since)
    columns = _score_columns()
    agents = [
        _score_row(row)
        for row in surveys.values("agent_id").annotate(**columns).order_by("agent_id")
    ]
    people = account_selectors.users_by_id(row["agent_id"] for row in agents)
    for row in agents:
        person = people.get(row["agent_id"])
        row["agent"] = (person.full_name or person.email) if person else ""
    agents.sort(key=lambda row: (row["agent_id"] is None, row["agent"].casefold()))
    queues = [
        _score_row(row)
        for row in surveys.values("queue_id", "queue__name")
        .annotate(**columns)
        .order_by("queue__name", "queue_id")
    ]
    total = _score_row(surveys.aggregate(**columns))
    return {"agents": agents, "queues": queues, "total": total}


# ------------------------------------------------------------------- saved views


def saved_view_list(*, owner: Any) -> list[SavedView]:
    """The person's saved views of the ticket list, by name (one query)."""
    return list(SavedView.objects.filter(owner=owner).order_by("name", "pk"))


def saved_view_get(*, owner: Any, pk: Any) -> SavedView:
    """One of the person's own views; anyone else's (or none) is a 404."""
    return get_object_or_404(SavedView, owner=owner, pk=pk)


# ------------------------------------------------------------------- next ticket


def next_ticket_candidates(*, agent: Any, now: dt.datetime | None = None) -> QuerySet:
    """Unassigned active tickets of the agent's queues and regions, in the queue's order.

    Unevaluated: tickets.services.next_ticket takes the first one it can lock.
    """
    tickets = Ticket.objects.filter(
        assignee__isnull=True,
        status__in=ACTIVE_STATUSES,
        queue__in=member_queue_ids(agent=agent),
    )
    tickets = scope_by_organisation(agent, tickets)
    return tickets.order_by(*queue_ordering(now=now or timezone.now()))


# ---------------------------------------------------------------- queue membership (for chat)


def queue_member_ids(*, queue_id: int, active_only: bool = False) -> QuerySet:
    """The ids of a queue's agents (a subquery: use it inside another filter)."""
    members = QueueMember.objects.filter(queue_id=queue_id)
    if active_only:
        members = members.filter(is_active=True)
    return members.values_list("agent_id", flat=True)


def is_queue_member(*, queue_id: int | None, agent: Any) -> bool:
    return (
        queue_id is not None and QueueMember.objects.filter(queue_id=queue_id, agent=agent).exists()
    )


def member_queue_ids(*, agent: Any) -> QuerySet:
    """The ids of the queues an agent belongs to (a subquery)."""
    return QueueMember.objects.filter(agent=agent).values("queue_id")


def queue_agents(*, queue_id: int | None, among: QuerySet | None = None) -> list[Any]:
    """A queue's agents, in the order of their membership; only those whose pk is in `among`
    (a subquery of user pks, e.g. accounts.permissions.staff_seeing_region) when given."""
    members = QueueMember.objects.filter(queue_id=queue_id)
    if among is not None:
        members = members.filter(agent_id__in=among)
    return [m.agent for m in members.select_related("agent").order_by("pk")]


def requesters_with_active_tickets(*, region_ids: list[int] | None) -> QuerySet:
    """Customers with an active ticket, of organisations in these regions (None: all), once
    each: the people an outage notice must reach even without a subscription."""
    tickets = Ticket.objects.filter(status__in=ACTIVE_STATUSES)
    if region_ids is not None:
        tickets = tickets.filter(organisation__region_id__in=region_ids)
    return account_selectors.active_customers_among(tickets.values("requester_id"))


def organisations_with_tickets(
    *, start: dt.datetime, end: dt.datetime, region_ids: list[int] | None
) -> Any:
    """(organisation id, tier, reference) of tickets opened in a window by customers of
    active organisations in these regions (None: all), in one query."""
    tickets = Ticket.objects.filter(
        created_at__gte=start, created_at__lte=end, organisation__is_active=True
    )
    if region_ids is not None:
        tickets = tickets.filter(organisation__region_id__in=region_ids)
    return tickets.order_by("organisation_id", "created_at").values_list(
        "organisation_id", "organisation__tier", "reference"
    )


def breached_tickets(*, since: dt.datetime, max_priority: int) -> QuerySet:
    """Resolved tickets of this priority or higher that missed their resolution target."""
    return Ticket.objects.filter(
        resolution_met=False, resolved_at__gte=since, priority__lte=max_priority
    ).order_by("pk")


def ticket_by_pk(pk: int) -> Ticket | None:
    """A ticket by its id, unscoped: for the desk's own intake (a mail threaded by the
    Message-ID it answers), which decides itself what the sender may do with it."""
    return Ticket.objects.filter(pk=pk).first()


def ticket_by_reference(reference: str) -> Ticket | None:
    """A ticket by its reference (case-insensitive), unscoped: for staff tools that check
    their own permission."""
    return Ticket.objects.filter(reference__iexact=reference.strip()).first()


# ------------------------------------------------------------------- the chat bot's questions

# The chat bot names at most this many tickets in one answer.
ASKED_TICKETS = 3


def tickets_asked_about(*, user: Any, references: Any = ()) -> list[Ticket]:
    """The tickets a customer asks about in a chat: those of these references they may see
    (another organisation's is left out like a missing one, its refusal audited), or without
    a reference their own open ones, newest first. At most ASKED_TICKETS; two queries at
    most whatever the tables hold."""
    tickets = Ticket.objects.select_related("merged_into").only(
        "pk",
        "reference",
        "subject",
        "status",
        "updated_at",
        "created_at",
        "organisation_id",
        "merged_into__reference",
    )
    references = [r.upper() for r in references][:ASKED_TICKETS]
    if references:
        return scoped_among(user, tickets, field="reference", values=references)
    mine = scope_by_organisation(user, tickets).filter(requester=user, status__in=ACTIVE_STATUSES)
    return list(mine.order_by("-created_at", "-pk")[:ASKED_TICKETS])


@dataclass(frozen=True)
class DeskHours:
    """When the desk works: the weekly hours of its calendar, and whether it is open now
    (then until when) or when it opens next."""

    timezone: str
    weekly: tuple[tuple[tuple[dt.time, dt.time], ...], ...]  # Monday first
    open_now: bool
    closes_at: dt.datetime | None
    opens_at: dt.datetime | None


def _desk_calendar(tier: str | None) -> BusinessCalendar | None:
    """The calendar of the tier's everyday (P3) policy when it counts business time, else
    the desk's first calendar (the seeded "China service hours")."""
    if tier:
        policy = sla.policy_for(tier=tier, priority=Priority.P3)  # cached per process
        if policy is not None and policy.clock == Clock.BUSINESS and policy.calendar:
            return policy.calendar
    return BusinessCalendar.objects.order_by("pk").first()


def desk_hours(*, tier: str | None = None, now: dt.datetime | None = None) -> DeskHours | None:
    """The desk's hours for a customer of this contract tier (None without a calendar)."""
    calendar = _desk_calendar(tier)
    if calendar is None:
        return None
    spec = calendar_spec(calendar)  # cached per process by the calendar's version
    now = now or timezone.now()
    closes_at = bt.working_until(spec, now)
    opens_at = None
    if closes_at is None:
        try:
            opens_at = bt.add(spec, now, 1) - dt.timedelta(seconds=1)
        except bt.NoWorkingTime:
            opens_at = None
    return DeskHours(
        timezone=spec.timezone,
        weekly=spec.weekly,
        open_now=closes_at is not None,
        closes_at=closes_at,
        opens_at=opens_at,
    )


# ------------------------------------------------------------------- data-subject access

DESK = "WeldDesk"


def _author_label(message: Any, user: Any) -> str:
    if message.author_id == user.pk:
        return "you"
    return DESK if message.author_id is None or message.author.is_staff else "another person"


def person_tickets(user: Any) -> list[dict[str, Any]]:
    """The tickets the person asked for and the public messages on them (the desk appears
    as "WeldDesk", colleagues' messages and internal notes are left out), plus what they
    wrote on colleagues' tickets: for a data-subject export."""
    found = []
    requested = Ticket.objects.filter(requester=user).order_by("created_at")
    for ticket in requested.prefetch_related("messages__author"):
        found.append(
            {
                "reference": ticket.reference,
                "subject": ticket.subject,
                "status": ticket.status,
                "priority": ticket.priority,
                "created_at": ticket.created_at,
                "resolved_at": ticket.resolved_at,
                "closed_at": ticket.closed_at,
                "messages": [
                    {"from": _author_label(m, user), "at": m.created_at, "body": m.body}
                    for m in ticket.messages.all()
                    if not m.internal and _author_label(m, user) != "another person"
                ],
            }
        )
    # Messages they wrote on tickets somebody else of their organisation asked for.
    others = Message.objects.filter(author=user, internal=False).exclude(ticket__requester=user)
    for m in others.select_related("ticket").order_by("created_at"):
        found.append(
            {
                "reference": m.ticket.reference,
                "messages": [{"from": "you", "at": m.created_at, "body": m.body}],
            }
        )
    return found


def person_uploads(user: Any) -> list[tuple[str, Any]]:
    """(archive name, file) of every ticket attachment the person uploaded."""
    return [
        (f"attachments/tickets/{a.pk}-{a.original_name}", a.file)
        for a in Attachment.objects.filter(uploaded_by=user).order_by("pk")
    ]


def sla_metrics() -> Iterator[GaugeMetricFamily]:
    """Open tickets per priority, those at risk and those already in breach, for /metrics.

    Gauges of the state now, read at scrape time in one query: a counter of breaches summed
    from ticket rows would drop whenever retention deletes old tickets, which Prometheus would
    read as a reset. Labelled by priority only (four values), whatever the number of queues.
    """
    active = GaugeMetricFamily(
        "welddesk_tickets_active",
        "Tickets not yet resolved (new, open, waiting, on hold), by priority.",
        labels=["priority"],
    )
    at_risk = GaugeMetricFamily(
        "welddesk_tickets_sla_at_risk",
        "Unresolved tickets past an SLA warning threshold but not in breach, by priority.",
        labels=["priority"],
    )
    breached = GaugeMetricFamily(
        "welddesk_tickets_sla_breached",
        "Unresolved tickets that have breached an SLA target, by priority.",
        labels=["priority"],
    )
    rows = {
        row["priority"]: row
        for row in Ticket.objects.filter(status__in=ACTIVE_STATUSES)
        .values("priority")
        .annotate(
            n=Count("pk"),
            at_risk=Count("pk", filter=Q(sla_warning=True, sla_breached=False)),
            breached=Count("pk", filter=Q(sla_breached=True)),
        )
        .order_by("priority")
    }
    for priority in Priority.values:
        row = rows.get(priority, {})
        label = [str(priority)]
        active.add_metric(label, row.get("n", 0))
        at_risk.add_metric(label, row.get("at_risk", 0))
        breached.add_metric(label, row.get("breached", 0))
    yield active
    yield at_risk
    yield breached
