"""The other ways in: for now, the phone system's call events (answer rate, missed callers)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = _("Intake")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import metrics
        from intake import selectors

        metrics.register_collector("telephony", selectors.phone_metrics)
