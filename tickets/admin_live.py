"""The live layer of the agents' workspace, over HTTP: rows and messages for the page's socket.

The workspace socket (tickets.consumers) tells a page only which tickets changed. The page then
asks here, with the agent's own session, for what it shows: the list's rows for some tickets
under the list's own filters (rendered by tickets.admin_list.ticket_rows, the list's one
rendering path), or the ticket page's new messages. Both are scoped like the pages: a ticket
of another region is a 404 (and the refusal audited). Pages work without any of this.

A change refused as stale (the ticket moved on since the page was rendered) shows what others
did since: the new messages and the audited changes, with who made them (`changes_since`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, JsonResponse, QueryDict
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from accounts import selectors as account_selectors
from accounts.permissions import refuse, scope_by_organisation
from audit.selectors import target_events
from audit.services import audit_read
from tickets import selectors
from tickets.admin_list import ROW_FIELDS, ticket_rows
from tickets.admin_workspace import (
    BREACHED_LEFT,
    HOURS,
    HOURS_MINUTES,
    LEFT,
    MINUTES,
    OVERDUE,
    CountdownFormat,
    countdown_html,
)
from tickets.models import Message, Priority, Status, Ticket

MAX_ROWS = 50  # a list page's rows: more is not a page's live update
SEEN = "seen"  # the hidden field carrying when the page was rendered (ms since the epoch)
# What the refusal of a stale change lists, besides the new messages.
SHOWN_ACTIONS = (
    "ticket.status_changed",
    "ticket.priority_changed",
    "ticket.assigned",
    "ticket.changed",
    "ticket.sla_breached",
    "ticket.escalated",
)


def _no_store(response):
    response["Cache-Control"] = "no-store"
    return response


def _ints(values: list[str]) -> list[int] | None:
    try:
        numbers = [int(v) for v in values]
    except ValueError:
        return None
    return numbers if all(0 < n < 2**63 for n in numbers) else None


def seen_now() -> int:
    return int(timezone.now().timestamp() * 1000)


def parse_seen(value: Any) -> dt.datetime | None:
    """The page's render time from its hidden field; None when absent or not a time."""
    try:
        millis = int(str(value))
        return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def countdown_words() -> str:
    """The countdown's phrases in the active language, as JSON for the page's ticking."""
    words = CountdownFormat()
    return json.dumps(
        {
            key: words.word(message)
            for key, message in (
                ("m", MINUTES),
                ("h", HOURS),
                ("hm", HOURS_MINUTES),
                ("left", LEFT),
                ("overdue", OVERDUE),
                ("breached", BREACHED_LEFT),
            )
        }
    )


def live_context(*, ticket: Ticket | None = None) -> dict[str, Any]:
    """What templates/admin/tickets/ticket/_live.html needs (the list and the ticket page)."""
    info = reverse("admin:tickets_ticket_changelist")
    return {
        "live_socket": "/ws/workspace/",
        "live_rows": info + "live/rows/",
        "live_ticket": reverse("admin:tickets_ticket_live", args=[ticket.pk]) if ticket else "",
        "live_words": countdown_words(),
    }


# ------------------------------------------------------------------- the stale refusal


def changes_since(
    *, ticket: Ticket, conversation: list[Message], since: dt.datetime
) -> dict[str, Any]:
    """What others did to the ticket after `since`: new messages (from the conversation the
    page already holds) and audited changes, each with who did it."""
    messages = [m for m in conversation if m.created_at > since]
    events = target_events(
        target_type="tickets.ticket", target_id=ticket.pk, since=since, actions=SHOWN_ACTIONS
    )
    ids = {
        int(e["actor_ref"].split(":", 1)[1])
        for e in events
        if e["actor_ref"].startswith("user:") and e["actor_ref"][5:].isdigit()
    }
    people = account_selectors.users_by_id(ids)
    changes = []
    for event in events:
        ref = event["actor_ref"]
        person = people.get(int(ref[5:])) if ref.startswith("user:") and ref[5:].isdigit() else None
        who = (person.full_name or person.email) if person else _("The desk")
        changes.append({"at": event["at"], "who": who, "what": _describe(event, ticket)})
    return {"messages": messages, "changes": changes}


def _describe(event: dict, ticket: Ticket) -> str:
    values = (event.get("data") or {}).get("values") or {}
    action = event["action"]
    if action == "ticket.status_changed" and values.get("status") in Status.values:
        return _("set the status to %(s)s") % {"s": Status(values["status"]).label}
    if action == "ticket.priority_changed" and values.get("priority") in Priority.values:
        return _("set the priority to %(p)s") % {"p": Priority(values["priority"]).label}
    if action == "ticket.assigned":
        if values.get("assignee") is None:
            return _("unassigned the ticket")
        if values.get("assignee") == ticket.assignee_id and ticket.assignee is not None:
            name = ticket.assignee.full_name or ticket.assignee.email
            return _("assigned the ticket to %(name)s") % {"name": name}
        return _("reassigned the ticket")
    if action == "ticket.changed":
        return _("changed the ticket's details")
    if action == "ticket.sla_breached":
        return _("recorded an SLA breach")
    return _("escalated the ticket")


# ------------------------------------------------------------------- the views


class LiveAdminMixin:
    """TicketAdmin's live endpoints (their URLs come before the admin's own)."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("live/rows/", wrap(self.live_rows_view), name="tickets_ticket_live_rows"),
            path("live/<int:pk>/", wrap(self.live_ticket_view), name="tickets_ticket_live"),
            *super().get_urls(),
        ]

    def live_rows_view(self, request):
        """The list's rows of the given tickets, under the list's own filters and search.

        `?pk=..&pk=..&list=<the list's query string>`: rows of tickets that match are
        returned rendered; the others (in the agent's scope but filtered out) under `gone`;
        a ticket outside the agent's scope is a 404, as its page would be.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        pks = _ints(request.GET.getlist("pk"))
        if not pks or len(pks) > MAX_ROWS:
            return HttpResponseBadRequest(_("Ask for 1 to %(n)s tickets.") % {"n": MAX_ROWS})
        pks = sorted(set(pks))
        visible = set(
            scope_by_organisation(request.user, Ticket.objects.filter(pk__in=pks)).values_list(
                "pk", flat=True
            )
        )
        foreign = [pk for pk in pks if pk not in visible]
        if foreign:
            refuse(request.user, Ticket.objects.all(), pk=foreign[0])
        listed = request.GET.get("list", "").lstrip("?")
        request.GET = QueryDict(listed)
        try:
            cl = self._live_changelist(request, pks)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(_("The list's filters are not valid."))
        cl.preserved_filters = urlencode({"_changelist_filters": listed}) if listed else ""
        rows = []
        for ticket, row in zip(cl.result_list, ticket_rows(cl), strict=True):
            cells = "".join(str(item) for item in row)
            tr = f'<tr data-ticket="{ticket.pk}" data-reference="{escape(ticket.reference)}">'
            rows.append({"pk": ticket.pk, "html": f"{tr}{cells}</tr>"})
        shown = {row["pk"] for row in rows}
        return _no_store(
            JsonResponse({"rows": rows, "gone": [pk for pk in pks if pk not in shown]})
        )

    def _live_changelist(self, request, pks: list[int]):
        """The list's ChangeList whose results are the given tickets instead of a page."""

        def only_these(cl, request) -> None:
            cl.result_list = list(cl.queryset.filter(pk__in=pks).only(*ROW_FIELDS))
            cl.result_count = len(cl.result_list)
            cl.full_result_count = None
            cl.show_full_result_count = False
            cl.show_admin_actions = True
            cl.can_show_all = cl.multi_page = False
            cl.paginator = None

        list_display = self.get_list_display(request)
        links = self.get_list_display_links(request, list_display)
        if self.get_actions(request):
            list_display = ["action_checkbox", *list_display]
        changelist = self.get_changelist(request)
        live = type("LiveRowsChangeList", (changelist,), {"get_results": only_these})
        cl = live(
            request,
            self.model,
            list_display,
            links,
            self.get_list_filter(request),
            self.date_hierarchy,
            self.get_search_fields(request),
            self.get_list_select_related(request),
            self.list_per_page,
            self.list_max_show_all,
            self.list_editable,
            self,
            self.get_sortable_by(request),
            self.search_help_text,
        )
        cl.formset = None
        return cl

    def live_ticket_view(self, request, pk: int):
        """The ticket page's news: its version, its countdown, and messages after `after`."""
        ticket = (
            scope_by_organisation(
                request.user, Ticket.objects.select_related("sla_policy__calendar")
            )
            .filter(pk=pk)
            .first()
        )
        if ticket is None:
            refuse(request.user, Ticket.objects.all(), pk=pk)
        if not self.has_view_or_change_permission(request, ticket):
            raise PermissionDenied
        after = request.GET.get("after") or "0"
        if not after.isdigit() or len(after) > 18:
            return HttpResponseBadRequest(_("after is a message number."))
        messages = list(
            Message.objects.filter(ticket=ticket, pk__gt=int(after))
            .select_related("author")
            .prefetch_related("attachments")
            .order_by("pk")[:MAX_ROWS]
        )
        if messages:  # message bodies are personal data: reading them is on record
            audit_read(actor=request.user, target_type="tickets.ticket", target_id=ticket.pk)
        return _no_store(
            JsonResponse(
                {
                    "version": ticket.version,
                    "countdown": countdown_html(selectors.sla_countdown(ticket)),
                    "messages": [
                        {
                            "pk": m.pk,
                            "html": render_to_string(
                                "admin/tickets/ticket/_message.html", {"message": m}, request
                            ),
                        }
                        for m in messages
                    ],
                }
            )
        )
