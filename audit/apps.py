"""Audit app: the hash-chained, append-only record of who did what."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from django.conf import settings

        from core import periodic

        periodic.register(
            periodic.Schedule(
                name="audit: seal pending events",
                task="audit.seal",
                every_seconds=settings.AUDIT_SEAL_EVERY_SECONDS,
                description="Move events written with deferred sealing into the chain.",
            )
        )
