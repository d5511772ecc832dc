"""Audit app: the hash-chained, append-only record of who did what."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"
