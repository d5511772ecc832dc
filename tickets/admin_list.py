"""The queue list of the agents' workspace, built for a desk with 100,000 open tickets.

Django's changelist is generic: it loads every column of the ticket and of each joined row
(decrypting the organisation's contacts and the agent's phone on every row), reverses the
change URL and renders a checkbox widget through the template engine per row, lists the
queues of the filter with a DISTINCT over all tickets, and pages with an OFFSET over the
joined rows. Here the rows load only the columns the list shows, the page is found by key
first (tickets.selectors.KeyFirstPaginator), the queue filter reads the queue table, and the
rows are rendered by ticket_rows: Django's markup, cell for cell, without its generic per-cell
lookups (the template admin/tickets/ticket/change_list.html calls it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import ResultList, results
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString

from accounts.permissions import staff_region_ids
from tickets import selectors
from tickets.admin_workspace import CountdownFormat

# What a row shows (see TicketAdmin.list_display) plus what its SLA countdown reads.
ROW_FIELDS = (
    "reference",
    "priority",
    "subject",
    "organisation__name",
    "queue__name",
    "assignee__full_name",
    "assignee__email",
    *selectors.COUNTDOWN_FIELDS,
)

# Stands for the primary key in the change URL, reversed once per page instead of per row.
_PK = "__pk__"


# Named sorts (`?o=priority`) and the column whose header shows them as sorted.
_SORT_COLUMN = {"urgency": "sla_countdown", "priority": "priority_badge"}


def _nulls_last(part: Any) -> Any:
    # The SLA column sorts by sla_next_due; either way round, stopped clocks (NULL) stay last.
    if part == "sla_next_due":
        return F("sla_next_due").asc(nulls_last=True)
    if part == "-sla_next_due":
        return F("sla_next_due").desc(nulls_last=True)
    return part


class TicketChangeList(ChangeList):
    """The changelist with rows narrowed to ROW_FIELDS and the change URL reversed once,
    sorted by urgency unless another sort is chosen (named in `o`, or Django's columns)."""

    def get_ordering(self, request, queryset):
        named = selectors.list_ordering(self.params.get(ORDER_VAR, ""))
        if named is not None:
            return named
        return [_nulls_last(part) for part in super().get_ordering(request, queryset)]

    def get_ordering_field_columns(self):
        # Django guesses the sorted column from Meta.ordering; the list's default is urgency.
        sort = self.params.get(ORDER_VAR) or "urgency"
        if sort in selectors.LIST_SORTS:
            column = _SORT_COLUMN.get(sort)
            if column in self.list_display:
                return {self.list_display.index(column): "asc"}
            return {}
        return super().get_ordering_field_columns()

    def get_results(self, request):
        super().get_results(request)
        if getattr(self.paginator, "ranking", None) is not None and not self.multi_page:
            # Django lists a single page as the whole queryset, where a ranked search's page
            # is its keys (found with the count, no further query): without them PostgreSQL
            # plans the page for every ticket the terms might match and hashes the whole
            # user and organisation tables to join them (10-14 ms at a million tickets,
            # docs/performance.md). Nothing found: nothing to read.
            if self.result_count == 0:
                self.result_list = self.queryset.none()
            elif not self.show_all:
                self.result_list = self.paginator.page(1).object_list
        # Only the rows shown: actions and "select all" still use the full queryset.
        self.result_list = self.result_list.only(*ROW_FIELDS)

    def get_queryset(self, request, exclude_parameters=None):
        qs = super().get_queryset(request, exclude_parameters)
        # A search (tickets.search) lists the best matches first, unless a column is sorted;
        # among equals the newest (by key: the index rows hold it, so finding a page of
        # matches reads no ticket rows but for the region scope).
        if "search_rank" in qs.query.annotations and ORDER_VAR not in self.params:
            qs = qs.order_by("search_rank", "-pk")
        return qs

    def url_for_result(self, result):
        pk = getattr(result, self.pk_attname)
        if not isinstance(pk, int):  # a key that would need quoting: Django's way
            return super().url_for_result(result)
        return self.change_url_template().replace(_PK, str(pk), 1)

    def change_url_template(self) -> str:
        """Return the change URL with _PK for the key, reversed once per page."""
        template = getattr(self, "_change_url", None)
        if template is None:
            template = self._change_url = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=(_PK,),
                current_app=self.model_admin.admin_site.name,
            )
        return template


class QueueListFilter(admin.RelatedFieldListFilter):
    """Queues from the queue table: the ones of the agent's regions and the national ones.

    Django's RelatedOnlyFieldListFilter would find them with a DISTINCT over every ticket.
    """

    def field_choices(self, field, request, model_admin) -> list[tuple[Any, str]]:
        regions = staff_region_ids(request.user)
        limit = None if regions is None else Q(region__in=regions) | Q(region__isnull=True)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


# ------------------------------------------------------------------- rows


def _text(value: Any, empty: str) -> str:
    # What items_for_result makes of a value: blank shows as "empty", the rest is escaped
    # unless it is already safe HTML.
    if value is None or (isinstance(value, str) and not value.strip()):
        return empty
    return conditional_escape(value)


def _related(value: Any, empty: str) -> str:
    # A foreign key's cell: its object's str(), or "empty" when there is none.
    return empty if value is None else conditional_escape(value)


def _cells(cl: TicketChangeList) -> dict[str, Callable[[Any], str]] | None:
    """Return a function per column giving a cell's inner HTML, or None for Django's way."""
    model_admin = cl.model_admin
    empty = model_admin.get_empty_value_display()
    # Translated once per page (a lazy label would be translated again in every row).
    statuses = {value: str(label) for value, label in model_admin.model.status.field.flatchoices}

    def call(name: str) -> Callable[[Any], str]:
        method = getattr(model_admin, name)
        return lambda ticket: _text(method(ticket), empty)

    # TicketAdmin.sla_countdown, with one clock reading and one translator for the page.
    countdowns, now = CountdownFormat(), timezone.now()
    cells = {
        "action_checkbox": model_admin.action_checkbox,
        "reference": lambda ticket: _text(ticket.reference, empty),
        "priority_badge": call("priority_badge"),
        "sla_countdown": lambda ticket: countdowns.html(selectors.sla_countdown(ticket, now=now)),
        "subject": lambda ticket: _text(ticket.subject, empty),
        "organisation": lambda ticket: _related(ticket.organisation, empty),
        "status": lambda ticket: _text(statuses.get(ticket.status), empty),
        "queue": lambda ticket: _related(ticket.queue, empty),
        "assignee_name": call("assignee_name"),
    }
    if cl.formset or cl.is_popup or cl.to_field or not set(cl.list_display) <= set(cells):
        return None
    if list(cl.list_display_links or ()) != ["reference"]:
        return None
    return cells


# Django's classes: a foreign key's cell does not wrap; the checkbox has its own.
_CLASSES = {
    "action_checkbox": "action-checkbox",
    "organisation": "field-organisation nowrap",
    "queue": "field-queue nowrap",
}


class TicketRow(ResultList):
    """A row of the list that knows its ticket: the template prints it on the <tr>.

    ``<tr data-ticket="pk" data-reference="WD-…">`` is what the live updates and the
    keyboard find a row by; keep these two attributes stable.
    """

    def __init__(self, ticket: Any, cells: list[Any], form: Any = None) -> None:
        super().__init__(form, cells)
        self.ticket_pk = ticket.pk
        self.reference = getattr(ticket, "reference", "")


def ticket_rows(cl: TicketChangeList) -> Iterator[TicketRow]:
    """Yield the rows of the page with the markup of Django's admin_list.results.

    Each cell comes from the same ModelAdmin method or model field Django would use; what is
    left out is the generic work around it (finding the field, its label and its kind, once
    per cell). A row is one item holding all its cells. An unexpected column, an editable
    list or a popup gets Django's own rows.
    """
    cells = _cells(cl)
    if cells is None:
        for ticket, row in zip(cl.result_list, results(cl), strict=True):
            yield TicketRow(ticket, list(row), row.form)
        return
    # The change URL with the list's filters preserved, built once: only the key differs.
    link = add_preserved_filters(
        {"preserved_filters": cl.preserved_filters, "opts": cl.opts}, cl.change_url_template()
    )
    columns = [
        (name, cells[name], f' class="{_CLASSES.get(name, f"field-{name}")}"')
        for name in cl.list_display
    ]
    for ticket in cl.result_list:
        row = []
        for name, cell, attrs in columns:
            if name == "reference":
                href = escape(link.replace(_PK, str(ticket.pk), 1))
                row.append(f'<th{attrs}><a href="{href}">{cell(ticket)}</a></th>')
            else:
                row.append(f"<td{attrs}>{cell(ticket)}</td>")
        # One item per row: the template prints it once instead of once per cell.
        yield TicketRow(ticket, [SafeString("".join(row))])
