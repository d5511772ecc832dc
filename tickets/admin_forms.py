"""Forms of the agents' workspace: they parse input only; the services decide and write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tickets.models import CannedResponse, Priority, Status, Ticket
from tickets.services.tickets import TRANSITIONS

PUBLIC, INTERNAL = "public", "internal"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files (the services check type, size and quota)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class CannedSelect(forms.Select):
    """A select whose options carry the expanded text, for the static picker script."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: dict[str, str] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        body = self.bodies.get(str(value))
        if body is not None:
            option["attrs"]["data-body"] = body
        return option


class VersionedForm(forms.Form):
    """A form about one ticket, carrying the version the page was rendered from."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class ReplyForm(VersionedForm):
    body = forms.CharField(
        label=_("Message"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "workspace-body"}),
        help_text=_("Leave empty and choose a canned response to send that response as it is."),
    )
    visibility = forms.ChoiceField(
        label=_("Visible to"),
        choices=[
            (PUBLIC, _("Public reply (the customer is notified)")),
            (INTERNAL, _("Internal note")),
        ],
        initial=PUBLIC,
        widget=forms.RadioSelect(attrs={"class": "workspace-visibility"}),
    )
    canned = forms.ChoiceField(label=_("Canned response"), required=False, widget=CannedSelect)
    attachments = MultipleFileField(label=_("Attachments"))

    def __init__(
        self,
        *args: Any,
        canned: Sequence[CannedResponse] = (),
        bodies: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.canned_by_pk = {str(item.pk): item for item in canned}
        field = self.fields["canned"]
        field.choices = [("", "---------")] + [
            (str(item.pk), item.title_localized) for item in canned
        ]
        field.widget.bodies = bodies or {}
        field.widget.attrs["data-confirm"] = _("Replace the text you wrote with this response?")

    @property
    def internal(self) -> bool:
        return self.cleaned_data["visibility"] == INTERNAL

    @property
    def canned_response(self) -> CannedResponse | None:
        return self.canned_by_pk.get(self.cleaned_data.get("canned") or "")


def status_choices(current: str) -> list[tuple[str, str]]:
    """Return the statuses a ticket may move to from `current`, in workflow order."""
    allowed = TRANSITIONS.get(current, set())
    return [(value, label) for value, label in Status.choices if value in allowed]


class StatusForm(VersionedForm):
    status = forms.ChoiceField(label=_("New status"))
    reason = forms.CharField(
        label=_("Reason (optional)"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("Reason (optional)")}),
    )

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = status_choices(ticket.status)


class PriorityForm(VersionedForm):
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Priority.choices, coerce=int)


class AssignForm(VersionedForm):
    assignee = forms.TypedChoiceField(
        label=_("Assignee"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, *args: Any, agents: Iterable[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agents = {agent.pk: agent for agent in agents}
        self.fields["assignee"].choices = [("", _("Unassigned"))] + [
            (agent.pk, agent.full_name or agent.email) for agent in self.agents.values()
        ]

    @property
    def agent(self) -> Any:
        return self.agents.get(self.cleaned_data.get("assignee"))


# ------------------------------------------------------------------- bulk actions


class BulkAssignForm(forms.Form):
    agent = forms.TypedChoiceField(label=_("Assign to"), coerce=int)

    def __init__(self, *args: Any, agents: Iterable[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agents = {agent.pk: agent for agent in agents}
        self.fields["agent"].choices = [
            (agent.pk, f"{agent.full_name or agent.email} <{agent.email}>")
            for agent in self.agents.values()
        ]

    @property
    def chosen(self) -> Any:
        return self.agents[self.cleaned_data["agent"]]


class BulkStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=Status.choices)
    reason = forms.CharField(label=_("Reason (optional)"), required=False, max_length=200)


class MergeForm(forms.Form):
    into = forms.TypedChoiceField(
        label=_("Keep this ticket; merge the others into it"),
        coerce=int,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, tickets: Sequence[Ticket], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tickets = {ticket.pk: ticket for ticket in tickets}
        self.fields["into"].choices = [
            (t.pk, f"{t.reference} · {t.subject} · {t.organisation} · {t.get_status_display()}")
            for t in tickets
        ]

    @property
    def target(self) -> Ticket:
        return self.tickets[self.cleaned_data["into"]]

    @property
    def duplicates(self) -> list[Ticket]:
        return [t for pk, t in self.tickets.items() if pk != self.cleaned_data["into"]]
