"""One trivial table for the floor endpoint to insert into."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class FloorRow(models.Model):
    """A row written by one floor request."""

    note = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"floor row {self.pk}"
