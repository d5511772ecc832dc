"""Forms of the customer portal: they parse and label input; the services validate and write."""

from __future__ import annotations

import functools
import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms import ReauthForm
from accounts.models import Language
from core import sealed_search
from tickets.models import MAX_MACHINES, FaultReport, Production
from tickets.services.impact import IMPACT_FIELDS
from tickets.services.tickets import FAULT_FIELDS

MAX_PHOTOS = 5


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Up to MAX_PHOTOS files; their type and size are checked by the attachment store."""

    widget = MultipleFileInput

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if len(files) > MAX_PHOTOS:
            raise forms.ValidationError(
                _("Attach at most %(n)s files.") % {"n": MAX_PHOTOS}, code="too_many"
            )
        return [super(PhotosField, self).clean(f, initial) for f in files]


class ChoiceButtons(forms.RadioSelect):
    """Radio buttons drawn as large tappable buttons (portal/_choices.html), one tap each."""


YES_NO = [("yes", _("Yes")), ("no", _("No"))]


class FaultReportForm(forms.Form):
    """A new fault report: which machine, how bad it is, what it shows, how it was welding,
    photos. How bad it is comes first and in plain words: the answers set the priority."""

    unit = forms.ModelChoiceField(
        label=_("Machine"),
        queryset=None,
        empty_label=_("Choose the machine"),
        help_text=_("The serial number is on the type plate at the back of the machine."),
    )
    production = forms.ChoiceField(
        label=_("Is your production stopped?"),
        choices=[
            (Production.STOPPED, _("Yes, production has stopped")),
            (Production.DEGRADED, _("It runs, but slower or with poor welds")),
            (Production.UNAFFECTED, _("No, production is not affected")),
        ],
        widget=ChoiceButtons,
        error_messages={"required": _("Tell us whether your production is stopped.")},
    )
    machines_affected = forms.IntegerField(
        label=_("How many machines have this fault?"),
        min_value=1,
        max_value=MAX_MACHINES,
        initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    safety_risk = forms.TypedChoiceField(
        label=_("Is anyone in danger?"),
        help_text=_(
            "For example fire, smoke, burns, laser light outside the cabin or live parts. "
            "If someone is in danger now, stop the machine and call your site's emergency "
            "number first."
        ),
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        widget=ChoiceButtons,
        error_messages={"required": _("Tell us whether anyone is in danger.")},
    )
    subject = forms.CharField(
        label=_("What is wrong, in a few words"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    body = forms.CharField(
        label=_("Description"),
        max_length=20_000,
        help_text=_("What happened, since when, and what you have tried already."),
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    photos = PhotosField(
        label=_("Photos"),
        help_text=_("Up to 5 photos of the seam, the display or the fault (JPEG, PNG, PDF)."),
    )

    def __init__(self, *args, units, fault_codes, language: str = "en", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units
        # In the reader's language: the label is made when the select is rendered.
        self.fields["unit"].label_from_instance = lambda u: " · ".join(
            filter(None, (u.serial_number, u.machine_model.name_localized, u.site_localized))
        )
        # The welding parameters, labelled and limited as the model declares them.
        for name, field in forms.fields_for_model(FaultReport, fields=FAULT_FIELDS).items():
            field.required = False
            self.fields[name] = field
        code = self.fields["fault_code"]
        code.queryset = fault_codes
        code.empty_label = _("I don't know / no code shown")
        code.label_from_instance = lambda c: f"{c.code} · {c.title(language)}"
        code.help_text = _("The code on the machine's display, if it shows one.")
        order = [
            "unit",
            *IMPACT_FIELDS,
            "fault_code",
            "subject",
            "body",
            *FAULT_FIELDS[1:],
            "photos",
        ]
        self.order_fields(order)

    @property
    def parameter_fields(self):
        return [self[name] for name in FAULT_FIELDS[1:]]

    def fault_report(self) -> dict:
        return {
            name: self.cleaned_data.get(name)
            for name in (*IMPACT_FIELDS, *FAULT_FIELDS)
            if self.cleaned_data.get(name) not in (None, "")
        }


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your reply"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 4})
    )
    photos = PhotosField(label=_("Attachments"))


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with how we handled this ticket?"),
        choices=[(n, str(n)) for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class TicketFilterForm(sealed_search.SealedSearchFormMixin, forms.Form):
    STATES = [
        ("open", _("Open")),
        ("closed", _("Resolved and closed")),
        ("all", _("All")),
    ]
    SEARCH_MAX = 100
    state = forms.ChoiceField(label=_("Show"), choices=STATES, required=False)
    # In the URL the term is sealed (core.sealed_search).
    q = sealed_search.SealedSearchField(
        label=_("Search"),
        max_length=SEARCH_MAX,
        widget=forms.SearchInput(attrs={"placeholder": _("Reference, subject or serial number")}),
    )


@functools.cache
def _time_zones() -> list[tuple[str, str]]:
    common = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "UTC"]
    others = sorted(z for z in zoneinfo.available_timezones() if "/" in z and z not in common)
    return [(z, z) for z in common + others]


class ProfileForm(ReauthForm):
    """Contact data and preferences; a new phone number needs the password (and code) again."""

    full_name = forms.CharField(label=_("Full name"), max_length=200)
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    timezone = forms.ChoiceField(label=_("Time zone"), choices=_time_zones)
    notify_email = forms.BooleanField(label=_("E-mail me about my tickets"), required=False)
    notify_sms = forms.BooleanField(label=_("Send me SMS for urgent news"), required=False)
    notify_wecom = forms.BooleanField(label=_("Send me WeCom messages"), required=False)
    wecom_id = forms.CharField(
        label=_("WeCom user ID"),
        max_length=64,
        required=False,
        help_text=_("Needed for WeCom messages: in WeCom, Me → Profile → Account."),
    )
    notify_webhook_url = forms.URLField(
        label=_("Webhook of your own system"),
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text=_(
            "Optional: we POST incident notices as signed JSON to this https address "
            "(see the signing secret below once saved)."
        ),
    )

    def profile_changes(self) -> dict:
        """The profile values to save (without the re-authentication fields)."""
        return {k: v for k, v in self.cleaned_data.items() if k not in self.REAUTH_FIELDS}
