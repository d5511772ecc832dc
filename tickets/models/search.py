"""The ticket search index: keyed hashes of each ticket's terms (services.search_index)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models.tickets import Ticket


class TermSource(models.IntegerChoices):
    """Where a term was found; the lower, the better a match ranks."""

    REFERENCE = 0, _("reference")
    SERIAL = 1, _("unit serial number")
    FAULT_CODE = 2, _("fault code")
    ORGANISATION = 3, _("organisation")
    REQUESTER = 4, _("requester's name or e-mail")
    SUBJECT = 5, _("subject")
    MESSAGE = 6, _("message")
    NOTE = 7, _("internal note")


# Sources read from the ticket row and its joins (cheap to recompute); the others from messages.
FIELD_SOURCES = (
    TermSource.REFERENCE,
    TermSource.SERIAL,
    TermSource.FAULT_CODE,
    TermSource.ORGANISATION,
    TermSource.REQUESTER,
    TermSource.SUBJECT,
)
MESSAGE_SOURCES = (TermSource.MESSAGE, TermSource.NOTE)


class TermHashField(models.BigIntegerField):
    """A keyed hash of a term: derived from personal data (names, e-mails, what people wrote),
    so core.privacy lists it like the blind indexes, and core.pii counts it as personal."""

    personal_data = True


class SearchTerm(models.Model):
    """One term of one ticket from one source, as a 64-bit keyed hash (core.search_terms).

    One row per (term, ticket, source), however often the term occurs: the index answers "which
    tickets hold all these terms", never where or how often. The unique index leads with the
    term, so a query reads only the rows of the terms typed, and covers the ticket and source.
    """

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="search_terms", db_index=False
    )
    term = TermHashField(_("term (keyed hash)"))
    source = models.PositiveSmallIntegerField(_("found in"), choices=TermSource.choices)

    class Meta:
        verbose_name = _("search term")
        verbose_name_plural = _("search terms")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["term", "ticket", "source"], name="searchterm_term_ticket_source"
            )
        ]
        indexes = [models.Index(fields=["ticket", "source"], name="searchterm_ticket_idx")]

    def __str__(self) -> str:
        return f"term of {self.ticket_id}"
