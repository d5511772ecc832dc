"""The agents' search box: one query over the ticket search index (a selector: reads only).

The typed text is cut into terms as the stored text was (core.search_terms), each term is
hashed, and a ticket matches when it holds every term (in any of its fields or messages). One
SQL statement finds, scopes, ranks and pages the matches:

    SELECT ticket.…, MIN(term.source) AS search_rank
      FROM ticket JOIN search_term ON term.ticket_id = ticket.id AND term.term IN (h1, …, hn)
     WHERE <the agent's region scope, the list's filters>
     GROUP BY ticket.id HAVING COUNT(DISTINCT <which typed term>) = n
     ORDER BY search_rank, ticket.id DESC LIMIT 50

The rank is the best place any term was found: reference, serial number, fault code,
organisation, requester, subject, message, internal note (tickets.models.TermSource).

A bare number of up to five digits ("6") may also mean the reference WD-yyyy-000006: it does
when exactly one ticket the agent may see has that number (one small query); with several
(one per year) it would be a guess, so the number is then searched as text only. Typed with
its zeros ("000006"), with the year or whole, a reference is always matched.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import (
    Aggregate,
    BigIntegerField,
    Case,
    Count,
    IntegerField,
    Min,
    QuerySet,
    Value,
    When,
)

from core import search_terms
from tickets.models import SearchTerm, TermSource

# The longest text the box searches; longer is refused with a message, never cut silently.
MAX_QUERY_LENGTH = 200


class BitOr(Aggregate):
    """PostgreSQL's bit_or (django.contrib.postgres is not an installed app here)."""

    function = "BIT_OR"
    output_field = BigIntegerField()


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


def search_tickets(queryset: QuerySet, text: str, *, internal: bool = True) -> QuerySet:
    """The tickets of `queryset` holding every typed term, annotated with `search_rank`
    (order by it, best first). Internal notes count only when `internal` (staff).

    Empty when nothing searchable was typed (only punctuation or common words).
    Raises SearchTooLong for text over MAX_QUERY_LENGTH.
    """
    needed = requirements(queryset, text)
    if not needed:
        return queryset.none()
    every = [h for alternatives in needed for h in alternatives]
    join = {"search_terms__term__in": every}
    if not internal:
        join["search_terms__source__lt"] = TermSource.NOTE
    # One filter() call: the conditions apply to the same joined row, which the aggregates
    # below then read (a filter before an annotation narrows the annotation's join).
    qs = queryset.filter(**join)
    if connection.vendor == "postgresql":
        # One bit per typed term, OR-ed per ticket: a plain (hash) aggregate, where COUNT
        # (DISTINCT) would sort every matching row first (most of the time of a common word).
        bits = [
            When(search_terms__term__in=alternatives, then=Value(1 << i))
            for i, alternatives in enumerate(needed)
        ]
        met = BitOr(Case(*bits, default=Value(0), output_field=BigIntegerField()))
        wanted = (1 << len(needed)) - 1
    elif len(every) == len(needed):
        met, wanted = Count("search_terms__term", distinct=True), len(needed)
    else:
        which = [
            When(search_terms__term__in=alternatives, then=Value(i))
            for i, alternatives in enumerate(needed)
        ]
        met = Count(Case(*which, output_field=IntegerField()), distinct=True)
        wanted = len(needed)
    return qs.annotate(search_rank=Min("search_terms__source"), search_met=met).filter(
        search_met=wanted
    )


def stored_terms_of(ticket_pk: int) -> QuerySet:
    """The index rows of one ticket (for tests and the rebuild's checks)."""
    return SearchTerm.objects.filter(ticket_id=ticket_pk)
