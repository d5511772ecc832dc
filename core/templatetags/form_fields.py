"""Render a form field tied to its help text and errors (aria-describedby, aria-invalid)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def described(field):
    """Return the field's widget with aria attributes naming its help text and errors.

    The ids match the ones _field.html gives the help and error paragraphs, so a screen reader
    reads the error when the field gets focus.
    """
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}_helptext")
    if field.errors:
        ids += [f"{field.auto_id}_error{n}" for n in range(len(field.errors))]
    attrs = {}
    if ids:
        attrs["aria-describedby"] = " ".join(ids)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)
