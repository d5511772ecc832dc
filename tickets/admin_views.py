"""The ticket list's own pages and tools: saved personal views, the sort switch, "Next ticket".

TicketListMixin goes on TicketAdmin. Its pages sit under the list's URL
(/admin/tickets/ticket/views/..., /admin/tickets/ticket/next/), behind the admin's login and
second factor; every write is a POST (CSRF) handled by a service (tickets.services.views,
tickets.services.next_ticket), every read is a selector scoped to the person: another
agent's view is a 404. A refusal is a 400 page that says what to fix, never a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.contrib import messages
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from tickets import selectors
from tickets.models.views import SAVED_VIEW_NAME_MAX
from tickets.services import next_ticket, views

# The sort switch above the list: (value of `o`, label). No `o` at all is urgency.
SORT_CHOICES = (
    ("urgency", gettext_lazy("Urgency")),
    ("newest", gettext_lazy("Newest")),
    ("priority", gettext_lazy("Priority")),
    ("updated", gettext_lazy("Recently updated")),
)


def list_parameters(cl: Any) -> set[str]:
    """The query parameters of the list's filters (what a saved view may hold, with `o`)."""
    return {name for spec in cl.filter_specs for name in spec.expected_parameters()}


def current_query(cl: Any) -> str:
    """The list's filters and sort as a saved view would store them (and a search, if any,
    which saving refuses with a message)."""
    keep = list_parameters(cl) | {ORDER_VAR, SEARCH_VAR}
    return urlencode(sorted((k, v) for k, v in cl.params.items() if k in keep))


class TicketListMixin:
    """Saved views, the sort switch and "Next ticket" for TicketAdmin's list."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        own = [
            path("next/", wrap(require_POST(self.next_ticket_view)), name="tickets_ticket_next"),
            path("views/", wrap(self.saved_views_view), name="tickets_ticket_views"),
            path(
                "views/save/",
                wrap(require_POST(self.saved_view_save)),
                name="tickets_ticket_view_save",
            ),
            path("views/<int:pk>/", wrap(self.saved_view_open), name="tickets_ticket_view_open"),
            path(
                "views/<int:pk>/rename/",
                wrap(require_POST(self.saved_view_rename)),
                name="tickets_ticket_view_rename",
            ),
            path(
                "views/<int:pk>/delete/",
                wrap(require_POST(self.saved_view_delete)),
                name="tickets_ticket_view_delete",
            ),
        ]
        return own + super().get_urls()

    # --------------------------------------------------------------- the list

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        cl = context.get("cl") if context else None
        if cl is None:
            return response
        query = current_query(cl)
        saved = selectors.saved_view_list(owner=request.user)
        sort = cl.params.get(ORDER_VAR) or "urgency"
        base = {k: v for k, v in cl.params.items() if k not in (ORDER_VAR, "p")}
        context.update(
            # The list is the agents' main page: it gets the width (at 1,280 px the admin's
            # navigation column left the subject a few characters wide). Breadcrumbs and the
            # home page still lead everywhere; other admin pages keep the column.
            is_nav_sidebar_enabled=False,
            saved_views=[
                {"view": v, "url": f"?{v.query}", "active": v.query == query} for v in saved
            ],
            view_query=query,
            view_name_max=SAVED_VIEW_NAME_MAX,
            sort_links=[
                {
                    "label": label,
                    "url": "?" + urlencode(sorted({**base, ORDER_VAR: value}.items()))
                    if value != "urgency"
                    else "?" + urlencode(sorted(base.items())),
                    "active": sort == value,
                }
                for value, label in SORT_CHOICES
            ],
        )
        return response

    # --------------------------------------------------------------- next ticket

    def next_ticket_view(self, request):
        """Take the most urgent unassigned ticket of my queues and open it."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        candidates = selectors.next_ticket_candidates(agent=request.user)
        try:
            ticket = next_ticket.ticket_take_next(agent=request.user, candidates=candidates)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:tickets_ticket_changelist"))
        if ticket is None:
            self.message_user(
                request,
                _("No unassigned ticket is waiting in your queues."),
                messages.INFO,
            )
            return HttpResponseRedirect(reverse("admin:tickets_ticket_changelist"))
        self.message_user(
            request,
            _("%(ref)s is yours now.") % {"ref": ticket.reference},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:tickets_ticket_change", args=(ticket.pk,)))

    # --------------------------------------------------------------- saved views

    def _views_page(self, request, *, errors=None, status=200, name="", query=""):
        self._may_use_views(request)
        context = {
            **self.admin_site.each_context(request),
            "title": _("My saved views"),
            "opts": self.model._meta,
            "views": selectors.saved_view_list(owner=request.user),
            "errors": errors or {},
            "name": name,
            "query": query,
            "query_shown": [(k, v) for k, v in parse_qsl(query) if k != SEARCH_VAR],
            "view_name_max": SAVED_VIEW_NAME_MAX,
            "changelist_url": reverse("admin:tickets_ticket_changelist"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/tickets/ticket/saved_views.html", context, status=status
        )

    def _may_use_views(self, request) -> None:
        # A view is a way of reading the list: whoever may read the list may keep views.
        if not self.has_view_permission(request):
            raise PermissionDenied

    @staticmethod
    def _errors(exc: ApplicationError) -> dict[str, Any]:
        return {"message": exc.message, "fields": exc.fields}

    def saved_views_view(self, request):
        """My views, to open, rename or delete."""
        return self._views_page(request)

    def saved_view_save(self, request):
        self._may_use_views(request)
        name, query = request.POST.get("name", ""), request.POST.get("query", "")
        # The list's filters as they are now (other filters may be added to the list later).
        allowed = list_parameters(self.get_changelist_instance(request))
        try:
            view = views.saved_view_create(
                owner=request.user, name=name, query=query, allowed=allowed
            )
        except ApplicationError as exc:
            return self._views_page(
                request, errors=self._errors(exc), status=400, name=name, query=query
            )
        self.message_user(request, _("View “%(name)s” saved.") % {"name": view.name})
        url = reverse("admin:tickets_ticket_changelist")
        return HttpResponseRedirect(f"{url}?{view.query}" if view.query else url)

    def saved_view_open(self, request, pk: int):
        self._may_use_views(request)
        view = selectors.saved_view_get(owner=request.user, pk=pk)
        url = reverse("admin:tickets_ticket_changelist")
        return HttpResponseRedirect(f"{url}?{view.query}" if view.query else url)

    def saved_view_rename(self, request, pk: int):
        self._may_use_views(request)
        view = selectors.saved_view_get(owner=request.user, pk=pk)
        try:
            views.saved_view_rename(
                view=view, actor=request.user, name=request.POST.get("name", "")
            )
        except ApplicationError as exc:
            errors = {**self._errors(exc), "view": view.pk}
            return self._views_page(request, errors=errors, status=400)
        self.message_user(request, _("View renamed."))
        return HttpResponseRedirect(reverse("admin:tickets_ticket_views"))

    def saved_view_delete(self, request, pk: int):
        self._may_use_views(request)
        view = selectors.saved_view_get(owner=request.user, pk=pk)
        views.saved_view_delete(view=view, actor=request.user)
        self.message_user(request, _("View “%(name)s” deleted.") % {"name": view.name})
        return HttpResponseRedirect(reverse("admin:tickets_ticket_views"))
