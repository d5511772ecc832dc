"""App configuration for compliance: data-subject access (and, next, erasure and retention)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = _("Compliance")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import periodic

        periodic.register(
            periodic.Schedule(
                name="compliance: retention",
                task="compliance.retention_run",
                crontab="30 2 * * *",
                description="Remove personal data past its retention period (audited).",
            )
        )
