"""Data-subject access: everything the desk holds about one person, as a ZIP of JSON files.

profile.json, tickets.json (the tickets they asked for; their own messages in full, the desk's
public replies with the author shown only as "WeldDesk"), chats.json (the same rule),
attachments/ (the files they uploaded), consents.json (notification choices, browser push,
status subscriptions), notifications.json (what was sent to their address, number or WeCom
ID), calls.json, compensation.json (what their organisation received), shipments.json (those
of their tickets), activity.json (audit events they caused or that concern them:
references only). Other people's personal data never appears: agents are "WeldDesk", other
customers are left out, the organisation's contact details only when they are the contact.

README.txt says what the export is and what each file holds, in the person's own language
(their profile's, else the desk's default), whoever asked for it: a compliance officer's
language does not decide it. Its texts are gettext strings, rendered under
`translation.override` as notifications are.

The ZIP is written to a temporary file and streamed from there, so memory stays small.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zipfile
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import selectors as account_selectors
from audit import selectors as audit_selectors
from chat import selectors as chat_selectors
from compensation import selectors as compensation_selectors
from core import privacy
from intake import selectors as intake_selectors
from logistics import selectors as logistics_selectors
from notifications import selectors as notification_selectors
from status import selectors as status_selectors
from tickets import selectors as ticket_selectors

# What each file of the export holds, as README.txt tells the person (in their language).
FILES = {
    "profile.json": gettext_lazy(
        "Your account: name, e-mail address, phone, language, time zone and organisation."
    ),
    "tickets.json": gettext_lazy(
        "The tickets you asked for: your messages in full and the desk's public replies."
    ),
    "chats.json": gettext_lazy("Your chats with the desk and its bot, message by message."),
    "consents.json": gettext_lazy(
        "Your notification choices, browser notifications and status-page subscriptions."
    ),
    "notifications.json": gettext_lazy(
        "The notices we sent to your e-mail address, phone number or WeCom ID."
    ),
    "calls.json": gettext_lazy("Your calls to our hotline."),
    "compensation.json": gettext_lazy("The compensation your organisation received."),
    "shipments.json": gettext_lazy(
        "The shipments for your tickets: items, delivery address and tracking."
    ),
    "activity.json": gettext_lazy(
        "What you did in the desk and what was done about you (audit events, references only)."
    ),
}


class _Encoder(DjangoJSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal):
            return str(o)
        return super().default(o)


def _dump(value: Any) -> str:
    return json.dumps(value, cls=_Encoder, ensure_ascii=False, indent=2)


def profile(user: Any) -> dict[str, Any]:
    org = user.organisation
    data = {
        **privacy.readable(user),  # every personal field the registry lists for an account
        "language": user.language,
        "timezone": user.timezone,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "is_active": user.is_active,
        "organisation": org.name if org else None,
        "messaging_accounts": account_selectors.person_platform_identities(user),
    }
    if org is not None and org.contact_email_bidx and org.contact_email_bidx == user.email_bidx:
        data["organisation_contact"] = privacy.readable(org)
    return data


def consents(user: Any) -> dict[str, Any]:
    return {
        "notify_email": user.notify_email,
        "notify_sms": user.notify_sms,
        "notify_wecom": user.notify_wecom,
        "notify_webhook_url": user.notify_webhook_url,
        "browser_push": notification_selectors.person_push(user),
        "status_subscriptions": status_selectors.person_subscriptions(email_bidx=user.email_bidx),
    }


def person_language(user: Any) -> str:
    """The language the person reads the desk in: their profile's, else the desk's default."""
    language = getattr(user, "language", "") or settings.LANGUAGE_CODE
    return language if translation.check_for_language(language) else settings.LANGUAGE_CODE


def readme(
    user: Any, *, files: list[str], uploads: list[tuple[str, bool]], now: dt.datetime | None = None
) -> str:
    """README.txt: what the export is, each file with what it holds, and the uploaded files
    (those missing from storage said so), in the person's language."""
    when = f"{(now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    with translation.override(person_language(user)):
        lines = [
            _("Everything WeldDesk holds about you, exported %(when)s.") % {"when": when},
            _("Each .json file is one kind of record; attachments/ holds the files you uploaded."),
            _("Other people's personal data is left out: the desk's staff appear as 'WeldDesk'."),
            "",
            _("Files:"),
            *(f"- {name}: {FILES[name]}" if name in FILES else f"- {name}" for name in files),
        ]
        if uploads:
            lines += ["", _("Files you uploaded:")]
            lines += [
                f"- {name}" if present else f"- {name}: " + _("missing from storage")
                for name, present in uploads
            ]
    return "\n".join(lines) + "\n"


def build(user: Any) -> tempfile.SpooledTemporaryFile:
    """Write the ZIP to a temporary file (in memory up to 8 MB) and return it, rewound."""
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned open
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        parts = {
            "profile.json": profile(user),
            "tickets.json": ticket_selectors.person_tickets(user),
            "chats.json": chat_selectors.person_chats(user),
            "consents.json": consents(user),
            "notifications.json": notification_selectors.person_notifications(user),
            "calls.json": intake_selectors.person_calls(phone_bidx=user.phone_bidx),
            "compensation.json": compensation_selectors.person_compensation(
                organisation_id=user.organisation_id
            ),
            "shipments.json": logistics_selectors.person_shipments(user),
            "activity.json": audit_selectors.person_activity(user_pk=user.pk),
        }
        for name, value in parts.items():
            archive.writestr(name, _dump(value))
        listed = []
        uploads = ticket_selectors.person_uploads(user) + chat_selectors.person_uploads(user)
        for name, field in uploads:
            try:
                with field.open("rb") as handle, archive.open(name, "w") as target:
                    for block in iter(lambda h=handle: h.read(1 << 20), b""):
                        target.write(block)
                listed.append((name, True))
            except (OSError, ValueError):
                listed.append((name, False))
        archive.writestr("README.txt", readme(user, files=list(parts), uploads=listed))
    out.seek(0)
    return out
