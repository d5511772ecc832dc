"""The tickets' blocks of the agents' home (core.home), and the ticket list's "work" filter.

Each ticket block links to the ticket list filtered by `work=<kind>`, which applies the same
home_selectors.work_q as the block, so the list shows the block's tickets (and more of them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts import roles
from accounts.permissions import has_role
from core.home import Block, Row
from tickets import home_selectors, selectors
from tickets.admin_workspace import CountdownFormat
from tickets.models import ACTIVE_STATUSES

# Titles and empty states of the ticket blocks, in the order shown.
WORK_BLOCKS = {
    "mine": (10, gettext_lazy("My open tickets"), gettext_lazy("Nothing assigned to you.")),
    "hour": (
        20,
        gettext_lazy("Breaching within the hour"),
        gettext_lazy("Nothing breaches within the hour."),
    ),
    "unassigned": (
        30,
        gettext_lazy("Unassigned in my queues"),
        gettext_lazy("Nothing waiting for an agent."),
    ),
    "callbacks": (50, gettext_lazy("Callbacks due"), gettext_lazy("No callbacks to make.")),
}


class WorkFilter(admin.SimpleListFilter):
    """The home's ticket blocks as list filters (the links of the home lead here)."""

    title = gettext_lazy("my work")
    parameter_name = "work"

    def lookups(self, request, model_admin):
        return [(kind, WORK_BLOCKS[kind][1]) for kind in home_selectors.WORK_KINDS]

    def queryset(self, request, queryset):
        if self.value() in home_selectors.WORK_KINDS:
            return queryset.filter(
                home_selectors.work_q(request.user, self.value(), now=timezone.now())
            )
        return queryset


def work_url(kind: str) -> str:
    return f"{reverse('admin:tickets_ticket_changelist')}?{urlencode({'work': kind})}"


def _ticket_row(ticket: Any, countdowns: CountdownFormat) -> Row:
    return Row(
        text=f"{ticket.reference} · {ticket.subject}",
        url=reverse("admin:tickets_ticket_change", args=[ticket.pk]),
        note=ticket.organisation.name,
        badge=format_html(
            '<span class="prio prio-{}">P{}</span> {}',
            ticket.priority,
            ticket.priority,
            countdowns.html(selectors.sla_countdown(ticket)),
        ),
    )


def work_blocks(request: Any) -> list[Block]:
    """My open tickets, breaching within the hour, unassigned in my queues, callbacks due."""
    user = request.user
    if not user.has_perm("tickets.view_ticket"):
        return []
    now = timezone.now()
    countdowns = CountdownFormat()
    blocks = []
    for kind in home_selectors.WORK_KINDS:
        order, title, empty = WORK_BLOCKS[kind]
        (count, more), tickets = home_selectors.work_tickets(user=user, kind=kind, now=now)
        blocks.append(
            Block(
                key=f"tickets-{kind}",
                title=str(title),
                count=count,
                count_more=more,
                rows=[_ticket_row(ticket, countdowns) for ticket in tickets],
                link=work_url(kind),
                link_text=_("Show all"),
                empty=str(empty),
                order=order,
            )
        )
    return blocks


def csat_block(request: Any) -> list[Block]:
    """My satisfaction this month: average rating, answered of sent."""
    user = request.user
    if not user.has_perm("tickets.view_survey"):
        return []
    scores = home_selectors.csat_month(user=user, now=timezone.now())
    query = urlencode(
        {
            "agent__id__exact": user.pk,
            "sent_at__year": scores["year"],
            "sent_at__month": scores["month"],
        }
    )
    average = scores["average"]
    return [
        Block(
            key="tickets-csat",
            title=_("My satisfaction this month"),
            count=None,
            figure=(_("%(avg).1f / 5") % {"avg": average}) if average is not None else "",
            detail=ngettext(
                "%(answered)d of %(sent)d survey answered",
                "%(answered)d of %(sent)d surveys answered",
                scores["sent"],
            )
            % {"answered": scores["answered"], "sent": scores["sent"]},
            link=f"{reverse('admin:tickets_survey_changelist')}?{query}",
            link_text=_("Show the surveys"),
            empty=_("No ratings yet this month."),
            order=70,
        )
    ]


def load_block(request: Any) -> list[Block]:
    """Supervisors: the open tickets of each agent of the queues they supervise."""
    user = request.user
    if not has_role(user, roles.SUPERVISOR) or not user.has_perm("tickets.view_ticket"):
        return []
    changelist = reverse("admin:tickets_ticket_changelist")
    active = ",".join(str(status) for status in ACTIVE_STATUSES)
    rows = []
    for load in home_selectors.queue_loads(user=user):
        query = urlencode({"assignee__id__exact": load["agent"].pk, "status__in": active})
        note = ", ".join(load["queues"])
        if not load["active"]:
            note = _("%(queues)s (takes no new tickets)") % {"queues": note}
        rows.append(
            Row(
                text=load["name"],
                url=f"{changelist}?{query}",
                note=note,
                badge=format_html(
                    '<span class="home-load">{}</span>',
                    ngettext("%(n)d open", "%(n)d open", load["open"]) % {"n": load["open"]},
                ),
            )
        )
    return [
        Block(
            key="tickets-load",
            title=_("My queues' load per agent"),
            count=None,
            rows=rows,
            empty=_("You supervise no queue with agents."),
            order=80,
        )
    ]


def ticket_blocks(request: Any) -> list[Block]:
    return [*work_blocks(request), *csat_block(request), *load_block(request)]
