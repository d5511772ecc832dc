"""Audit app: the hash-chained, append-only record of who did what."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit")

    def ready(self) -> None:
        from django.conf import settings

        from audit import checks, selectors  # noqa: F401  (checks registers the deploy checks)
        from core import metrics, periodic

        metrics.register_collector("audit", selectors.audit_metrics)
        periodic.register(
            periodic.Schedule(
                name="audit: seal pending events",
                task="audit.seal",
                every_seconds=settings.AUDIT_SEAL_EVERY_SECONDS,
                description="Move events written with deferred sealing into the chain.",
            )
        )
        periodic.register(
            periodic.Schedule(
                name="audit: sign a checkpoint",
                task="audit.checkpoint",
                every_seconds=settings.AUDIT_CHECKPOINT_EVERY_SECONDS,
                description="Append a signed checkpoint of the chain (seq, hash, time) to "
                "AUDIT_CHECKPOINT_PATH, outside the database.",
            )
        )
