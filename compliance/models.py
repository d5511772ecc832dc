"""Data subjects: the people the desk holds data about, as compliance officers see them."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from accounts.models import User


class DataSubject(User):
    """A person, in the compliance officers' screens (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("data subject")
        verbose_name_plural = _("data subjects")
        default_permissions = ("view",)
        permissions = [("export_datasubject", _("Can export a person's data"))]
