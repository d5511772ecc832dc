"""Core app: infrastructure shared by every domain app."""

from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from core import checks, crypto, health, metrics, periodic, sealed_search  # noqa: F401

        setting_changed.connect(crypto.reset_on_setting_change)
        sealed_search.install()
        metrics.register_collector("dependencies", health.dependency_metrics)
        metrics.register_collector("celery", health.celery_metrics)
        post_migrate.connect(periodic.ensure_on_migrate, sender=self)
        periodic.register(
            periodic.Schedule(
                name="core: purge idempotency records",
                task="core.purge_idempotency",
                crontab="41 * * * *",
                description="Delete Idempotency-Key answers older than IDEMPOTENCY_TTL_HOURS.",
            )
        )
