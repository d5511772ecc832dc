"""App configuration for service status: components, incidents, severities and playbooks."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StatusConfig(AppConfig):
    name = "status"
    verbose_name = _("Service status")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts import demo
        from core import home, periodic
        from status.demo import seed
        from status.home import incident_blocks
        from status.reference import ensure_on_migrate

        demo.register_seeder(seed)
        home.register(incident_blocks)
        periodic.register(
            periodic.Schedule(
                name="status: maintenance windows",
                task="status.maintenance_tick",
                every_seconds=60,
                description="Remind of, start and end maintenance windows; components follow.",
            )
        )
        periodic.register(
            periodic.Schedule(
                name="status: incident notices",
                task="status.notify_tick",
                every_seconds=30,
                description="Tell subscribers and affected customers, coalescing updates.",
            )
        )
        periodic.register(
            periodic.Schedule(
                name="status: plan failover drills",
                task="status.drills_schedule",
                crontab="0 3 1 * *",
                description="Plan next month's failover drill of every hotline.",
            )
        )
        # The severity grades exist in every desk (and again after a test flush).
        post_migrate.connect(ensure_on_migrate, sender=self, dispatch_uid="status-severities")
