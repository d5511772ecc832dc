"""Notifications app: the transactional outbox and its delivery over email, SMS and webhooks."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from accounts import hooks
        from core import metrics, periodic
        from notifications import services

        hooks.on_password_changed(services.password_changed_notice)
        hooks.on_password_reset_requested(services.password_reset_notice)
        metrics.register_collector("outbox", services.outbox_metrics)
        periodic.register(
            periodic.Schedule(
                name="notifications: sweep the outbox",
                task="notifications.outbox_sweep",
                every_seconds=60,
                description="Hand pending deliveries to the workers again (after a broker outage).",
            )
        )
