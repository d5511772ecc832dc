"""The ticket page of the agents' workspace, and how the SLA countdown is shown.

The page is read-only except for four small forms (reply, status, priority, assignee); each
POST calls one service in tickets.services.tickets with the version the page was rendered
from, so a stale page is refused with a message instead of overwriting someone's change.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import dateformat, timezone
from django.utils.formats import get_format
from django.utils.html import format_html
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _

from audit.services import audit_read
from core.errors import ApplicationError
from equipment.models import WarrantyStatus
from tickets import admin_forms, panels, selectors
from tickets.models import Channel, FaultReport, Priority, Status, Target, Ticket
from tickets.services import impact
from tickets.services import tickets as svc

# ------------------------------------------------------------------- SLA display

# The countdown's words, translated through CountdownFormat (once per page, not per row).
MINUTES = gettext_noop("%(m)dm")
HOURS = gettext_noop("%(h)dh")
HOURS_MINUTES = gettext_noop("%(h)dh %(m)02dm")
NO_SLA = gettext_noop("no SLA")
MET = gettext_noop("met")
MISSED = gettext_noop("missed")
PAUSED = gettext_noop("paused")
PAUSED_OVERDUE = gettext_noop("paused · %(time)s overdue")
PAUSED_LEFT = gettext_noop("paused · %(time)s left")
OVERDUE = gettext_noop("%(time)s overdue")
BREACHED_LEFT = gettext_noop("breached · %(time)s left")
LEFT = gettext_noop("%(time)s left")
TARGET_DUE = gettext_noop("%(target)s due %(when)s")


class CountdownFormat:
    """Countdowns as text and HTML in the active language.

    A list makes one and uses it for every row: each phrase, target name and the date format
    are looked up once, where a row-by-row gettext goes through the translation machinery
    four or five times per row.
    """

    def __init__(self) -> None:
        self._words: dict[str, str] = {}
        self._targets: dict[str, str] = {}
        self._datetime_format: str | None = None

    def word(self, message: str) -> str:
        text = self._words.get(message)
        if text is None:
            text = self._words[message] = _(message)
        return text

    def duration(self, seconds: float) -> str:
        """Return a short length of working time: 45m, 3h 05m, 120h."""
        minutes = round(abs(seconds) / 60)
        if minutes < 60:
            return self.word(MINUTES) % {"m": minutes}
        hours, minutes = divmod(minutes, 60)
        if hours >= 100:
            return self.word(HOURS) % {"h": hours}
        return self.word(HOURS_MINUTES) % {"h": hours, "m": minutes}

    def text(self, countdown: selectors.Countdown) -> str:
        seconds = countdown.seconds
        if countdown.state == "none":
            return self.word(NO_SLA)
        if countdown.state == "met":
            return self.word(MET)
        if countdown.state == "missed":
            return self.word(MISSED)
        if countdown.state == "paused":
            if seconds is None:
                return self.word(PAUSED)
            if seconds < 0:
                return self.word(PAUSED_OVERDUE) % {"time": self.duration(seconds)}
            return self.word(PAUSED_LEFT) % {"time": self.duration(seconds)}
        if seconds is not None and seconds < 0:
            return self.word(OVERDUE) % {"time": self.duration(seconds)}
        if countdown.state == "overdue":  # breached earlier; the nearest target still runs
            return self.word(BREACHED_LEFT) % {"time": self.duration(seconds or 0)}
        return self.word(LEFT) % {"time": self.duration(seconds or 0)}

    def html(self, countdown: selectors.Countdown) -> str:
        title = ""
        if countdown.target:
            title = self._targets.get(countdown.target)
            if title is None:
                title = self._targets[countdown.target] = str(Target(countdown.target).label)
            if countdown.due:
                if self._datetime_format is None:
                    self._datetime_format = get_format("SHORT_DATETIME_FORMAT")
                when = dateformat.format(timezone.localtime(countdown.due), self._datetime_format)
                title = self.word(TARGET_DUE) % {"target": title, "when": when}
        return format_html(
            '<span class="sla sla-{}" title="{}"{}>{}</span>',
            countdown.state,
            title,
            self.ticking(countdown),
            self.text(countdown),
        )

    @staticmethod
    def ticking(countdown: selectors.Countdown) -> str:
        """The data a running countdown ticks from in the page (static/tickets/live.js):
        seconds left, amber at, and how long the clock runs on by itself (empty: for ever).
        Paused, met and missed countdowns do not tick and carry nothing."""
        if countdown.state not in ("ok", "warning", "overdue") or countdown.seconds is None:
            return ""
        runs = "" if countdown.runs_for is None else str(int(countdown.runs_for))
        warn = "" if countdown.warn_at is None else str(int(countdown.warn_at))
        return format_html(
            ' data-left="{}" data-warn="{}" data-runs="{}"', int(countdown.seconds), warn, runs
        )


def duration(seconds: float) -> str:
    """Return a short length of working time: 45m, 3h 05m, 120h."""
    return CountdownFormat().duration(seconds)


def countdown_text(countdown: selectors.Countdown) -> str:
    return CountdownFormat().text(countdown)


def countdown_html(countdown: selectors.Countdown) -> str:
    return CountdownFormat().html(countdown)


# ------------------------------------------------------------------- the ticket page


def full_width_context(site, request) -> dict[str, Any]:
    """`AdminSite.each_context` for the ticket page, without the navigation column.

    The column's app list (every registered model's permissions checked, each app's name
    translated) was 7 % of a ticket page's CPU, and the page, like the ticket list, wants the
    width. The same keys as each_context (a test holds them equal across Django upgrades).
    """
    script_name = request.META["SCRIPT_NAME"]
    return {
        "site_title": site.site_title,
        "site_header": site.site_header,
        "site_url": script_name if site.site_url == "/" and script_name else site.site_url,
        "has_permission": site.has_permission(request),
        "available_apps": [],
        "is_popup": False,
        "is_nav_sidebar_enabled": False,
        "log_entries": site.get_log_entries(request),
    }


class TicketPageMixin:
    """TicketAdmin's change view: the ticket read-only, with the agent's forms."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """Show the ticket read-only with the agent's forms; POSTs call one service each."""
        if not str(object_id).isdigit():
            raise Http404
        # Scoped: another region's ticket is a 404, and the refusal is audited.
        skip = selectors.conversation_skip_or_400(request.GET.get("skip"))
        window = selectors.CONVERSATION_WINDOW if request.method == "GET" else None
        ticket = selectors.ticket_get(
            user=request.user, pk=int(object_id), window=window, skip=skip
        )
        if not self.has_view_or_change_permission(request, ticket):
            raise PermissionDenied
        if request.method == "POST":
            if not self.has_change_permission(request, ticket):
                raise PermissionDenied
            return self._workspace_post(request, ticket)
        audit_read(actor=request.user, target_type="tickets.ticket", target_id=ticket.pk)
        return self._workspace(request, ticket)

    def _workspace_post(self, request, ticket: Ticket):
        handlers = {
            "reply": self._post_reply,
            "status": self._post_status,
            "priority": self._post_priority,
            "assign": self._post_assign,
        }
        operation = request.POST.get("operation", "")
        handler = handlers.get(operation)
        if handler is None:
            messages.error(request, _("Unknown operation."))
            return HttpResponseRedirect(request.path)
        try:
            done = handler(request, ticket)
        except ApplicationError as exc:
            stale = exc.code == "version_conflict"
            if stale:
                # The page shows what changed and keeps the draft: no "reload" here (the
                # service's words are for API clients, who must read the ticket again).
                messages.error(
                    request,
                    _("%(ref)s was changed by someone else while you had it open.")
                    % {"ref": ticket.reference},
                )
            else:
                messages.error(request, exc.message)
            for field, errors in exc.fields.items():
                for error in errors:
                    messages.error(request, f"{field}: {error}")
            # Show the ticket as it is now; a draft reply is kept, with the current version.
            fresh = selectors.ticket_get(
                user=request.user, pk=ticket.pk, window=selectors.CONVERSATION_WINDOW
            )
            draft = request.POST if operation == "reply" else None
            return self._workspace(request, fresh, draft=draft, stale_since=stale)
        messages.success(request, done)
        return HttpResponseRedirect(request.path)

    @staticmethod
    def _valid(form) -> Any:
        if not form.is_valid():
            raise ApplicationError(
                _("Please correct the form."),
                fields={
                    str(form.fields[name].label or name if name in form.fields else name): errors
                    for name, errors in form.errors.items()
                },
            )
        return form.cleaned_data

    def _post_reply(self, request, ticket: Ticket) -> str:
        canned = list(selectors.canned_response_list())
        form = admin_forms.ReplyForm(request.POST, request.FILES, canned=canned)
        data = self._valid(form)
        body = data["body"]
        if not body.strip() and form.canned_response is not None:
            body = selectors.canned_response_render(
                canned=form.canned_response, ticket=ticket, agent=request.user
            )
        message = svc.ticket_reply(
            ticket=ticket,
            author=request.user,
            body=body,
            internal=form.internal,
            attachments=data["attachments"],
            channel=Channel.AGENT,
            expected_version=data["version"],
        )
        if form.internal:
            return _("Your internal note was added.")
        if ticket.assignee_id is None and message.ticket.assignee_id == request.user.pk:
            return _("Your reply was sent to the customer, and the ticket is now assigned to you.")
        return _("Your reply was sent to the customer.")

    def _post_status(self, request, ticket: Ticket) -> str:
        data = self._valid(admin_forms.StatusForm(request.POST, ticket=ticket))
        svc.ticket_transition(
            ticket=ticket,
            status=data["status"],
            actor=request.user,
            reason=data["reason"],
            expected_version=data["version"],
        )
        return _("The status is now %(status)s.") % {"status": Status(data["status"]).label}

    def _post_priority(self, request, ticket: Ticket) -> str:
        data = self._valid(admin_forms.PriorityForm(request.POST))
        svc.ticket_set_priority(
            ticket=ticket,
            priority=data["priority"],
            actor=request.user,
            expected_version=data["version"],
        )
        return _("The priority is now %(p)s.") % {"p": Priority(data["priority"]).label}

    def _post_assign(self, request, ticket: Ticket) -> str:
        form = admin_forms.AssignForm(request.POST, agents=selectors.ticket_assignees(ticket))
        data = self._valid(form)
        agent = form.agent
        if data["assignee"] is not None and agent is None:
            raise ApplicationError(_("Choose an active agent of this ticket's queue."))
        svc.ticket_assign(
            ticket=ticket, agent=agent, actor=request.user, expected_version=data["version"]
        )
        if agent is None:
            return _("The ticket is now unassigned.")
        return _("Assigned to %(name)s.") % {"name": agent.full_name or agent.email}

    def _workspace(self, request, ticket: Ticket, *, draft=None, stale_since: bool = False):
        """Render the ticket page; its queries do not grow with the conversation.

        After a change refused as stale, the page lists what others did since the refused
        page was rendered (its `seen` field), so nothing is overwritten unseen.
        """
        from tickets import admin_live

        can_change = self.has_change_permission(request, ticket)
        conversation = list(ticket.messages.all())
        since = None
        seen_at = admin_live.parse_seen(request.POST.get(admin_live.SEEN)) if stale_since else None
        if seen_at is not None:
            since = admin_live.changes_since(
                ticket=ticket, conversation=conversation, since=seen_at
            )
        canned = list(selectors.canned_response_list())
        bodies = {
            str(item.pk): selectors.canned_response_render(
                canned=item, ticket=ticket, agent=request.user
            )
            for item in canned
        }
        version = {"version": ticket.version}
        reply_initial = {**version}
        if draft is not None:
            reply_initial.update(
                body=draft.get("body", ""),
                visibility=draft.get("visibility", admin_forms.PUBLIC),
                canned=draft.get("canned", ""),
            )
        agents = selectors.ticket_assignees(ticket) if can_change else []
        forms = {}
        if can_change:
            forms = {
                "reply_form": admin_forms.ReplyForm(
                    initial=reply_initial, canned=canned, bodies=bodies, auto_id="reply_%s"
                ),
                "status_form": admin_forms.StatusForm(
                    initial=version, ticket=ticket, auto_id="status_%s"
                ),
                "priority_form": admin_forms.PriorityForm(
                    initial={**version, "priority": ticket.priority}, auto_id="priority_%s"
                ),
                "assign_form": admin_forms.AssignForm(
                    initial={**version, "assignee": ticket.assignee_id},
                    agents=agents,
                    auto_id="assign_%s",
                ),
            }
        report = getattr(ticket, "fault_report", None)
        unit = ticket.unit
        context = {
            **full_width_context(self.admin_site, request),
            "title": f"{ticket.reference} · {ticket.subject}",
            "opts": self.model._meta,
            "ticket": ticket,
            "conversation": conversation,
            **selectors.conversation_links(ticket),
            "loose_attachments": ticket.loose_attachments,
            "merged_here": ticket.merged_here,
            "countdown": countdown_html(selectors.sla_countdown(ticket)),
            "targets": _target_rows(ticket),
            "unit": unit,
            "warranty": _warranty(unit) if unit is not None else None,
            "report": report,
            "fault_title": report.fault_code.title(get_language() or "en")
            if report is not None and report.fault_code_id
            else "",
            "parameters": _parameters(report) if report is not None else [],
            "tags": list(ticket.tags.all()),
            "panels": panels.panels_for(ticket, request),
            "can_change": can_change,
            "seen": admin_live.seen_now(),
            "since": since,
            "can_change_status": can_change and bool(svc.TRANSITIONS.get(ticket.status)),
            "can_change_priority": can_change and ticket.is_active,
            # The "assign to me" button (and the `a` key of static/tickets/keys.js).
            "assign_me": bool(forms)
            and ticket.assignee_id != request.user.pk
            and ticket.status != Status.CLOSED
            and request.user.pk in forms["assign_form"].agents,
            "media": self.media,
            **forms,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tickets/ticket/workspace.html", context)


def _target_rows(ticket: Ticket) -> list[dict[str, Any]]:
    remaining = ticket.sla_remaining or {}
    rows = [
        {
            "label": Target.FIRST_RESPONSE.label,
            "due": ticket.first_response_due,
            "done_at": ticket.first_responded_at,
            "met": ticket.first_response_met,
            "left": remaining.get(Target.FIRST_RESPONSE),
        },
        {
            "label": Target.NEXT_REPLY.label,
            "due": ticket.next_reply_due,
            "done_at": None,
            "met": False if ticket.next_reply_breached else None,
            "left": remaining.get(Target.NEXT_REPLY),
        },
        {
            "label": Target.RESOLUTION.label,
            "due": ticket.resolution_due,
            "done_at": ticket.resolved_at,
            "met": ticket.resolution_met,
            "left": remaining.get(Target.RESOLUTION),
        },
    ]
    for row in rows:
        row["left_text"] = duration(row["left"]) if row["left"] is not None else ""
        row["overdue"] = row["left"] is not None and row["left"] < 0
    return rows


def _warranty(unit) -> dict[str, Any]:
    status = unit.warranty_status()
    return {"status": status, "label": WarrantyStatus(status).label}


def _parameters(report: FaultReport) -> list[tuple[str, Any]]:
    """The report's impact (first: it set the priority) and welding parameters, labelled."""
    rows = []
    for name in (*impact.IMPACT_FIELDS, *svc.FAULT_FIELDS):
        if name == "fault_code":
            continue
        field = FaultReport._meta.get_field(name)
        value = getattr(report, name)
        if value in (None, ""):
            continue
        if field.choices:
            value = getattr(report, f"get_{name}_display")()
        elif isinstance(value, bool):
            value = _("Yes") if value else _("No")
        rows.append((field.verbose_name, value))
    if report.priority_rule is not None:
        rows.append(
            (FaultReport._meta.get_field("priority_rule").verbose_name, report.priority_rule)
        )
    return rows
