"""The agents' search box: one query over the ticket search index (a selector: reads only).

The typed text is cut into terms as the stored text was (core.search_terms), each term is
hashed, and a ticket matches when it holds every term (in any of its fields or messages).
The index's unique key leads with the term and holds the ticket and the source, so the rows
of one term come out of it sorted by ticket: per typed term a streaming aggregate gives each
ticket's best source, and the terms are joined on the ticket:

    SELECT t0.ticket_id, LEAST(t0.r, t1.r) AS rank
      FROM (SELECT ticket_id, MIN(source) AS r FROM search_term
             WHERE term IN (h0, …) GROUP BY ticket_id) t0
      JOIN (… term IN (h1, …) …) t1 ON t1.ticket_id = t0.ticket_id

The rank is the best place any term was found: reference, serial number, fault code,
organisation, requester, subject, message, internal note (tickets.models.TermSource).

Two shapes of query read it. The list filtered by a column sort (or counted, or acted on)
is the agent's tickets `WHERE id IN (<the matches>)`. The list in rank order, the default,
is found by RankedPaginator in one statement from the matches alone: the page's keys and,
in the same pass, the number of matches (`COUNT(*) OVER ()`), semi-joined with the agent's
list (region scope, filters) only when it has any. The API's and the portal's lists
(tickets.selectors.ticket_list, newest first by key) are paged the same way, ordered by the
key instead of the rank. The ticket table is not read to rank or
count; at 100,000 tickets, two common words matching 15,600 of them are ranked and counted
in about 30 ms where joining every match to its ticket row and counting again took 230 ms
(docs/performance.md, "Search").

A bare number of up to five digits ("6") may also mean the reference WD-yyyy-000006: it does
when exactly one ticket the agent may see has that number (one small query); with several
(one per year) it would be a guess, so the number is then searched as text only. Typed with
its zeros ("000006"), with the year or whole, a reference is always matched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.db.models.sql.where import WhereNode
from django.utils.translation import gettext as _

from core import search_terms
from tickets.models import SearchTerm, TermSource
from tickets.selectors import (
    KeyFirstPaginator,
    capped_count,
    count_unless_above,
    planned_rows,
)

# The longest text the box searches; longer is refused with a message, never cut silently.
MAX_QUERY_LENGTH = 200

# The name under which a search leaves its ranking on the queryset's query (see Ranking).
_RANKING = "ticket_search_ranking"


class SearchTooLong(ValueError):
    """The typed text is longer than MAX_QUERY_LENGTH."""


def _reference_number(term: str) -> str | None:
    """The zero-padded reference number a bare short number may stand for."""
    if term.isascii() and term.isdigit() and len(term) < 6 and int(term) > 0:
        return term.zfill(6)
    return None


def requirements(queryset: QuerySet, text: str) -> list[list[int]]:
    """Per typed term, the hashes any one of which satisfies it (all terms must be met)."""
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchTooLong(text[:20])
    needed = []
    for term in search_terms.query_terms(text):
        alternatives = [search_terms.term_hash(term)]
        number = _reference_number(term)
        if number is not None:
            candidate = search_terms.term_hash(number)
            holders = queryset.filter(
                search_terms__term=candidate, search_terms__source=TermSource.REFERENCE
            ).values("pk")[:2]
            if len(holders) == 1:
                alternatives.append(candidate)
        needed.append(alternatives)
    return needed


@dataclass(frozen=True)
class Matches:
    """The tickets holding every typed term, as SQL over the index: (ticket_id, rank) rows."""

    needed: tuple[tuple[int, ...], ...]
    internal: bool

    def sql(self) -> tuple[str, list[Any]]:
        table = connection.ops.quote_name(SearchTerm._meta.db_table)
        parts, params = [], []
        for alternatives in self.needed:
            marks = ", ".join(["%s"] * len(alternatives))
            where = f"term IN ({marks})"
            params.extend(alternatives)
            if not self.internal:
                where += " AND source < %s"
                params.append(int(TermSource.NOTE))
            parts.append(
                f"(SELECT ticket_id, MIN(source) AS r FROM {table} "  # noqa: S608
                f"WHERE {where} GROUP BY ticket_id)"
            )
        ranks = [f"t{i}.r" for i in range(len(parts))]
        # PostgreSQL's LEAST; SQLite's MIN of several arguments is the same scalar function.
        least = "LEAST" if connection.vendor == "postgresql" else "MIN"
        rank = ranks[0] if len(ranks) == 1 else f"{least}({', '.join(ranks)})"
        joins = " ".join(
            f"JOIN {part} t{i} ON t{i}.ticket_id = t0.ticket_id"
            for i, part in enumerate(parts[1:], start=1)
        )
        sql = f"SELECT t0.ticket_id, {rank} AS rank FROM {parts[0]} t0 {joins}"  # noqa: S608
        return sql, params

    def every_hash(self) -> list[int]:
        return [h for alternatives in self.needed for h in alternatives]


@dataclass(frozen=True)
class Ranking:
    """What a search left on its queryset's query for RankedPaginator: the matches, the
    agent's list they were searched in, and the filter the search ended with (the ranking
    holds only while the queryset is filtered exactly so)."""

    matches: Matches
    within: QuerySet | None
    where: WhereNode
    # Newest first (by key) instead of best match first: the API's and the portal's lists.
    newest: bool = False

    def _scoped(self) -> tuple[str, list[Any]] | None:
        """The matches within the list's scope as a FROM item; None when the scope can match
        nothing (an agent without a region: Django refuses to write its empty IN)."""
        sql, params = self.matches.sql()
        scope = ""
        if self.within is not None:
            try:
                inner, inner_params = self.within.order_by().values("pk").query.sql_with_params()
            except EmptyResultSet:
                return None
            scope = f"WHERE m.ticket_id IN ({inner})"
            params = [*params, *inner_params]
        return f"({sql}) m {scope}", params

    def page(self, *, offset: int, limit: int) -> tuple[list[int], int | None]:
        """The keys of one page (in rank order, or newest first) and the number of all
        matches (None when the page is past the end: the window then has no row to carry
        the count)."""
        scoped = self._scoped()
        if scoped is None:
            return [], None
        found, params = scoped
        order = "m.ticket_id DESC" if self.newest else "m.rank, m.ticket_id DESC"
        statement = (
            f"SELECT m.ticket_id, COUNT(*) OVER () FROM {found} "  # noqa: S608
            f"ORDER BY {order} LIMIT %s OFFSET %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(statement, [*params, limit, offset])
            rows = cursor.fetchall()
        if not rows:
            return [], None
        return [key for key, _total in rows], rows[0][1]

    def keyset(self, *, position: int | None, reverse: bool, offset: int, limit: int) -> list[int]:
        """Up to `limit` keys of the matches newest first after the key `position` (older),
        or with `reverse`, oldest first before it (newer): the API's cursor pages of a
        search, taken from the index as page() takes a numbered page, without a count."""
        scoped = self._scoped()
        if scoped is None:
            return []
        found, params = scoped
        where, bound = "", []
        if position is not None:
            where = "WHERE keyset_id > %s" if reverse else "WHERE keyset_id < %s"
            bound = [position]
        statement = (
            f"SELECT keyset_id FROM (SELECT m.ticket_id AS keyset_id FROM {found}) s "  # noqa: S608
            f"{where} ORDER BY keyset_id {'ASC' if reverse else 'DESC'} LIMIT %s OFFSET %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(statement, [*params, *bound, limit, offset])
            return [row[0] for row in cursor.fetchall()]

    def count(self) -> int:
        """The number of matches alone (a page past the end), from the index as page() does."""
        scoped = self._scoped()
        if scoped is None:
            return 0
        found, params = scoped
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {found}", params)  # noqa: S608
            return cursor.fetchone()[0]


def search_tickets(queryset: QuerySet, text: str, *, internal: bool = True) -> QuerySet:
    """The tickets of `queryset` holding every typed term, annotated with `search_rank`
    (order by it, best first; RankedPaginator pages such a list without ranking every
    match through the ticket table). Internal notes count only when `internal` (staff).

    Empty when nothing searchable was typed (only punctuation or common words).
    Raises SearchTooLong for text over MAX_QUERY_LENGTH.
    """
    needed = requirements(queryset, text)
    if not needed:
        return queryset.none()
    matches = Matches(needed=tuple(tuple(a) for a in needed), internal=internal)
    rows = SearchTerm.objects.filter(ticket_id=OuterRef("pk"), term__in=matches.every_hash())
    if not internal:
        rows = rows.filter(source__lt=TermSource.NOTE)
    # The rank of one row (a page of them at most): its best source, one index probe.
    best = Subquery(rows.order_by("source").values("source")[:1])
    # Every term, by one EXISTS probe of the index each: a page of keys is checked by 50
    # probes per term (no matter how many match), a whole list by a semi-join per term.
    holds = []
    for alternatives in matches.needed:
        term_rows = SearchTerm.objects.filter(ticket_id=OuterRef("pk"), term__in=alternatives)
        if not internal:
            term_rows = term_rows.filter(source__lt=TermSource.NOTE)
        holds.append(Exists(term_rows))
    found = queryset.filter(*holds).annotate(search_rank=best)
    within = queryset if queryset.query.where else None
    setattr(found.query, _RANKING, Ranking(matches, within, found.query.where))
    return found


def ranking_of(queryset: QuerySet) -> Ranking | None:
    """The ranking a search left on `queryset`, if it is still filtered as the search left
    it and ordered best match first, or newest first by key (`-pk`: the API's and the
    portal's lists); a later filter, or another sort, pages it as usual."""
    ranking = getattr(queryset.query, _RANKING, None)
    if ranking is None or queryset.query.where != ranking.where:
        return None
    order = tuple(queryset.query.order_by)
    if order == ("search_rank", "-pk"):
        return replace(ranking, newest=False)
    if order == ("-pk",):
        return replace(ranking, newest=True)
    return None


class RankedPaginator(KeyFirstPaginator):
    """Pages of a search in rank order: each page's keys and the count in one statement.

    The count is asked first (Django's changelist needs it to know whether there are pages),
    so it is taken with the page the list is about to show (`number`, the `p` of the
    request): that page's keys are kept for page(). A list that is not a ranked search, or a
    page past the end, is paged and counted as KeyFirstPaginator does.
    """

    # A list the planner expects to hold more rows than this (PostgreSQL) is counted from
    # that estimate, shown as "about N": COUNT(*) over a million tickets reads every index
    # entry, 60-70 ms on every view of the list, more than the rest of the page
    # (docs/performance.md, "A million tickets"). No one pages to the exact end of such a list;
    # a filter or a search that narrows it below this is counted exactly.
    estimate_above = 200_000

    # A page number beyond any list (a hand-typed 99999999999999999999 would overflow the
    # OFFSET): taken as "past the end".
    MAX_PAGE = 10**9

    def __init__(
        self,
        object_list,
        per_page,
        *args,
        number: int = 1,
        estimates: bool = False,
        count_cap: int | None = None,
        **kwargs,
    ):
        super().__init__(object_list, per_page, *args, **kwargs)
        # A list that is not a search may count only this far (the portal's): past it, the
        # count is a lower bound (`count_more`) and the pages go on while they are full.
        self.count_cap = count_cap
        self.ranking = ranking_of(object_list)
        self.first_number = number
        # Only the agents' list estimates (TicketAdmin asks for it); the portal counts up to
        # a cap (`count_cap`), and the API's count stays exact, since its clients page to the
        # end (its `?cursor=` walks a long list without counting).
        self.estimates = estimates
        self._keys: dict[int, list[int]] = {}

    def _ranked_count(self) -> int | None:
        if self.ranking is None:
            return None
        if not 1 <= self.first_number <= self.MAX_PAGE:
            return self.ranking.count()
        offset = (self.first_number - 1) * self.per_page
        keys, total = self.ranking.page(offset=offset, limit=self.per_page)
        if total is None:
            # Past the end (or nothing found): counted from the index too, never by the
            # ticket table's EXISTS filter (a sequential scan at a million).
            if offset:
                return self.ranking.count()
            self._keys[self.first_number] = []
            return 0
        self._keys[self.first_number] = keys
        return total

    def _estimated_count(self) -> int | None:
        """The count of a list that is not a ranked search, on PostgreSQL: exact while the
        table is small (one statement, as Paginator's); on a table above `estimate_above`
        rows the planner's estimate of the list, to two significant figures, when the list
        too is above it (else the exact count of the narrowed list). None on SQLite."""
        queryset = self.object_list
        if not self.estimates:
            return None
        if self.ranking is not None or connection.vendor != "postgresql":
            return None
        if not hasattr(queryset, "query"):
            return None
        exact = count_unless_above(queryset, self.estimate_above)
        if exact is not None:
            return exact
        rows = planned_rows(queryset)
        if rows is None or rows <= self.estimate_above:
            return None
        self.estimated = True
        # Rounded up to two significant figures: an estimate that fits the table's statistics
        # then never stops the pages short of the list's real end (and a page past the
        # estimate is still served, see validate_number).
        step = 10 ** max(len(str(rows)) - 2, 0)
        return -(-rows // step) * step

    def _capped_count(self) -> int | None:
        """Up to `count_cap`, exact; past it the cap, with `count_more` and `estimated` set.
        One statement bounded by the cap: counting the 102,000 open tickets of the bench's
        largest customer read as many index entries, 17 ms of the portal list's 55 at a
        million tickets (docs/performance.md)."""
        if self.count_cap is None or self.ranking is not None:
            return None
        if not hasattr(self.object_list, "query"):
            return None
        found, more = capped_count(self.object_list, self.count_cap)
        if more:
            self.estimated = self.count_more = True
        return found

    @cached_property
    def count(self) -> int:
        found = self._ranked_count()
        if found is None:
            found = self._capped_count()
        if found is None:
            found = self._estimated_count()
        return found if found is not None else Paginator.count.func(self)

    def validate_number(self, number):
        """As Django's, except that an estimated count does not bound the pages: the list
        may hold more than the planner thought, and those pages are still served (an empty
        page past the real end)."""
        self.count  # noqa: B018 -- counting first tells whether the count is an estimate
        if not self.estimated:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError) as exc:
            raise PageNotAnInteger(_("That page number is not an integer")) from exc
        if number < 1:
            raise EmptyPage(_("That page number is less than 1"))
        if number > self.MAX_PAGE:
            raise EmptyPage(_("That page contains no results"))
        return number

    def page(self, number):
        if self.ranking is None:
            return super().page(number)
        number = self.validate_number(number)
        keys = self._keys.get(number)
        if keys is None:
            keys, _total = self.ranking.page(
                offset=(number - 1) * self.per_page, limit=self.per_page
            )
        rows = self.object_list.filter(pk__in=keys)
        return self._get_page(rows, number, self)


def stored_terms_of(ticket_pk: int) -> QuerySet:
    """The index rows of one ticket (for tests and the rebuild's checks)."""
    return SearchTerm.objects.filter(ticket_id=ticket_pk)
