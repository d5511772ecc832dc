"""Showing a service's refusal on the form that asked for it."""

from __future__ import annotations

from typing import Any

from core.errors import ApplicationError


def apply_service_errors(form: Any, exc: ApplicationError) -> None:
    """Put an ApplicationError's field errors on the form's fields ("a.b" names go to "b");
    errors of fields the form does not have, or a refusal without fields, go on the form."""
    for name, errors in (exc.fields or {}).items():
        field = name.split(".")[-1]
        for error in errors:
            form.add_error(field if field in form.fields else None, error)
    if not exc.fields:
        form.add_error(None, exc.message)
