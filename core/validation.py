"""Checks of free text that services share (a clear error naming the field, never a 500)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from core.errors import ApplicationError


def clean_text(value: Any, field: str, label: str, *, limit: int, required: bool = True) -> str:
    """The text stripped; refused when required and empty, or longer than `limit`."""
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise ApplicationError(
            _("%(label)s is required.") % {"label": label},
            fields={field: [_("This field is required.")]},
        )
    if len(text) > limit:
        raise ApplicationError(
            _("%(label)s has at most %(n)s characters.") % {"label": label, "n": limit},
            fields={field: [_("At most %(n)s characters.") % {"n": limit}]},
        )
    return text


def datetime_or_none(value: Any) -> dt.datetime | None:
    """An ISO 8601 date and time, or None for anything else.

    Django's parse_datetime raises ValueError for a well-formed but impossible value (month
    13, hour 25), which a machine's payload must not turn into a 500.
    """
    try:
        return parse_datetime(str(value or ""))
    except ValueError:
        return None
