"""Which model fields hold personal data.

A field is personal when it is encrypted, is a blind index, or is named in the model's
``PERSONAL_FIELDS``. The audit chain stores the names of changed personal fields, never values.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from django.db import models


def is_personal(model: type[models.Model] | None, field_name: str) -> bool:
    """Return True if the field may hold personal data (unknown models count as personal)."""
    if model is None:
        return True
    if field_name in getattr(model, "PERSONAL_FIELDS", ()):
        return True
    try:
        field = model._meta.get_field(field_name)
    except FieldDoesNotExist:
        return True
    return bool(getattr(field, "personal_data", False))


def personal_fields(model: type[models.Model]) -> list[str]:
    """Return the names of the model's personal-data fields."""
    names = [f.name for f in model._meta.concrete_fields if getattr(f, "personal_data", False)]
    names += [n for n in getattr(model, "PERSONAL_FIELDS", ()) if n not in names]
    return names
