"""Data in the reader's language, and strings Django's own catalogues lack.

`in_reader_language` and `localized` pick the Chinese or the English text of a row that keeps
both (`name` / `name_zh`, `title_en` / `title_zh`) by the active language: the request's for a
page, the recipient's for a notification (notifications.messages renders under
`translation.override`). Every app's models use them, so a blank Chinese text falls back to
the English one the same way everywhere. They live here, in the lowest layer, so that
equipment and logistics use the same rule as status, which defined it first.

The lists below are strings of Django's own admin that its Simplified Chinese catalogue lacks
(Django 5.2), and django_otp's model names. Listed here so `makemessages` copies them into the
project's catalogue, which LOCALE_PATHS puts before Django's: the admin index's table headers
(read out by screen readers) then speak Chinese too. servicedesk/tests/test_admin_zh.py finds
any new such gap.
"""

from typing import Any

from django.utils import translation
from django.utils.translation import gettext_noop


def reads_chinese() -> bool:
    """Whether the active language is Chinese."""
    return (translation.get_language() or "").startswith("zh")


def in_reader_language(english: str | None, chinese: str | None) -> str:
    """Chinese for a Chinese reader when there is a Chinese text, else the English (a
    missing one, None from a row without it, reads as blank)."""
    if reads_chinese():
        return chinese or english or ""
    return english or chinese or ""


def localized(obj: Any, field: str) -> str:
    """The Chinese text for a Chinese reader when there is one, else the English
    (`<field>_en` / `<field>_zh`)."""
    return in_reader_language(getattr(obj, f"{field}_en"), getattr(obj, f"{field}_zh"))


DJANGO_ADMIN_GAPS = [
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
]

# django_otp's TOTP device model names (plain strings there; made lazy in accounts/apps.py).
DJANGO_OTP_NAMES = [gettext_noop("TOTP device"), gettext_noop("TOTP devices")]
