"""Writes of the ticket search index (tickets.SearchTerm), called inside the writing services.

Every text the agents' search box should find is cut into terms and stored as keyed hashes
(core.search_terms): the reference, the unit's serial number, the fault code, the
organisation's names, the requester's name and e-mail, the subject (the ticket's "fields") and
the text of every message and internal note. The services that write those call in here in
their own transaction, so a ticket is never saved without its terms nor its terms without it:

- a new ticket: `index_new_ticket` (its fields and first message, one insert);
- a reply or note: `index_message` (one insert; a term already there is kept);
- a changed subject or unit, a renamed organisation or person, a new serial number:
  `index_fields` (the field terms of those tickets are written again);
- an erasure, a retention run or a merge: `index_messages` (the message terms of those
  tickets are derived again from the messages that remain, so an erased text's terms go);
- a new blind-index key: `rebuild` (every ticket's terms again, in batches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction

from core import search_terms
from tickets.models import (
    FIELD_SOURCES,
    MESSAGE_SOURCES,
    Message,
    SearchTerm,
    TermSource,
    Ticket,
)

INSERT_BATCH = 2000


def reference_terms(reference: str) -> set[str]:
    """WD-2026-000006 is found as typed whole, without its prefix, or by its number alone."""
    ref = search_terms.normalise(reference).strip()
    found = {ref}
    parts = ref.split("-")
    if len(parts) == 3:
        found.add(f"{parts[1]}-{parts[2]}")
        found.add(parts[2])
    return found


def _fault_code(ticket: Ticket) -> str:
    try:
        report = ticket.fault_report
    except ObjectDoesNotExist:
        return ""
    code = report.fault_code if report is not None else None
    return code.code if code is not None else ""


def field_terms(
    ticket: Ticket, *, fault_code: str | None = None, skip_requester: Any = None
) -> set[tuple[int, int]]:
    """(hash, source) of the ticket's own fields; its organisation, unit, requester and fault
    report must be loaded. `skip_requester` leaves out a person being erased."""
    found: set[tuple[str, int]] = set()

    def add(source: int, words: Iterable[str]) -> None:
        found.update((w, source) for w in words)

    add(TermSource.REFERENCE, reference_terms(ticket.reference))
    if ticket.unit_id is not None:
        add(TermSource.SERIAL, search_terms.terms(ticket.unit.serial_number))
    code = _fault_code(ticket) if fault_code is None else fault_code
    if code:
        add(TermSource.FAULT_CODE, search_terms.terms(code))
    org = ticket.organisation
    add(TermSource.ORGANISATION, search_terms.terms(f"{org.name} {org.name_en}", unigrams=True))
    requester = ticket.requester
    if requester is not None and requester.pk != getattr(skip_requester, "pk", skip_requester):
        add(TermSource.REQUESTER, search_terms.terms(requester.full_name or "", unigrams=True))
        add(TermSource.REQUESTER, search_terms.terms(requester.email or ""))
    add(TermSource.SUBJECT, search_terms.terms(ticket.subject, unigrams=True))
    return {(search_terms.term_hash(t), source) for t, source in found}


def message_terms(message: Message) -> set[tuple[int, int]]:
    if message.erased:
        return set()
    source = TermSource.NOTE if message.internal else TermSource.MESSAGE
    return {(h, source) for h in search_terms.hashes(search_terms.terms(message.body))}


def _insert(rows: Iterable[tuple[int, int, int]]) -> None:
    """Insert (ticket, hash, source) rows; a row already there is left as it is."""
    SearchTerm.objects.bulk_create(
        [SearchTerm(ticket_id=t, term=h, source=s) for t, h, s in rows],
        batch_size=INSERT_BATCH,
        ignore_conflicts=True,
    )


def index_new_ticket(ticket: Ticket, message: Message | None, *, fault_code: str = "") -> None:
    """The terms of a ticket just opened: its fields and its first message, one insert."""
    rows = field_terms(ticket, fault_code=fault_code)
    if message is not None:
        rows |= message_terms(message)
    _insert((ticket.pk, h, s) for h, s in rows)


def new_ticket_rows(
    ticket: Ticket, message: Message | None, *, fault_code: str = ""
) -> list[SearchTerm]:
    """`index_new_ticket`'s rows, unsaved, for a caller that writes them with its own
    (`core.batch`); the ticket's pk must be known."""
    rows = field_terms(ticket, fault_code=fault_code)
    if message is not None:
        rows |= message_terms(message)
    return [SearchTerm(ticket_id=ticket.pk, term=h, source=s) for h, s in sorted(rows)]


def index_message(message: Message) -> None:
    """Add the terms of a new message or note to its ticket's."""
    _insert((message.ticket_id, h, s) for h, s in message_terms(message))


def _field_rows(tickets: Iterable[Ticket], skip_requester: Any) -> list[tuple[int, int, int]]:
    return [(t.pk, h, s) for t in tickets for h, s in field_terms(t, skip_requester=skip_requester)]


def _tickets_with_fields(pks: list[int]):
    return Ticket.objects.filter(pk__in=pks).select_related(
        "organisation", "unit", "requester", "fault_report__fault_code"
    )


def index_fields(pks: Iterable[int], *, skip_requester: Any = None) -> None:
    """Write the field terms of these tickets again (a subject, unit, name changed)."""
    pks = list(pks)
    if not pks:
        return
    rows = _field_rows(_tickets_with_fields(pks), skip_requester)
    SearchTerm.objects.filter(ticket_id__in=pks, source__in=FIELD_SOURCES).delete()
    _insert(rows)


def index_messages(pks: Iterable[int]) -> None:
    """Derive the message terms of these tickets again from the messages they hold now."""
    pks = list(pks)
    if not pks:
        return
    rows = set()
    messages = Message.objects.filter(ticket_id__in=pks, erased=False).only(
        "ticket_id", "body", "internal", "erased"
    )
    for message in messages.iterator(chunk_size=500):
        rows.update((message.ticket_id, h, s) for h, s in message_terms(message))
    SearchTerm.objects.filter(ticket_id__in=pks, source__in=MESSAGE_SOURCES).delete()
    _insert(rows)


def reindex(pks: Iterable[int], *, skip_requester: Any = None) -> None:
    """Fields and messages of these tickets again (an erasure)."""
    pks = list(pks)
    index_fields(pks, skip_requester=skip_requester)
    index_messages(pks)


# ------------------------------------------------------------------- hooks of other apps


def _requester_changed(pks: list[Any]) -> None:
    index_fields(Ticket.objects.filter(requester_id__in=pks).values_list("pk", flat=True))


def _organisation_changed(pks: list[Any]) -> None:
    index_fields(Ticket.objects.filter(organisation_id__in=pks).values_list("pk", flat=True))


def _unit_changed(pks: list[Any]) -> None:
    index_fields(Ticket.objects.filter(unit_id__in=pks).values_list("pk", flat=True))


def register() -> None:
    """Listen to the changes of other apps' rows whose text tickets are found by."""
    search_terms.on_change("accounts.User", _requester_changed)
    search_terms.on_change("accounts.Organisation", _organisation_changed)
    search_terms.on_change("equipment.Unit", _unit_changed)
    search_terms.register_rebuilder("tickets", rebuild)


# ------------------------------------------------------------------- key rotation


def rebuild(*, batch_size: int = 500, progress: Callable[[int, int], None] | None = None) -> int:
    """Write every ticket's terms again under the current key, `batch_size` tickets per
    transaction (each batch deletes its tickets' old rows and inserts the new ones). Between
    batches, tickets not yet done are found only by their old terms; an interrupted run can be
    started again. Returns the number of tickets indexed."""
    total = Ticket.objects.count()
    done = 0
    last = 0
    while True:
        pks = list(
            Ticket.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not pks:
            break
        with transaction.atomic():
            # Lock the batch's tickets: a reply written meanwhile waits and then adds its terms.
            list(Ticket.objects.select_for_update().filter(pk__in=pks).values_list("pk"))
            rows = set(_field_rows(_tickets_with_fields(pks), None))
            messages = Message.objects.filter(ticket_id__in=pks, erased=False).only(
                "ticket_id", "body", "internal", "erased"
            )
            for message in messages.iterator(chunk_size=1000):
                rows.update((message.ticket_id, h, s) for h, s in message_terms(message))
            SearchTerm.objects.filter(ticket_id__in=pks).delete()
            _insert(rows)
        done += len(pks)
        last = pks[-1]
        if progress is not None:
            progress(done, total)
    return done
