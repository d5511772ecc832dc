"""App configuration for logistics: shipments, carriers and tracking."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LogisticsConfig(AppConfig):
    name = "logistics"
    verbose_name = _("Logistics")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import demo
        from core import periodic
        from logistics.demo import seed
        from logistics.panels import ticket_shipments
        from tickets import panels

        demo.register_seeder(seed)
        panels.register(ticket_shipments)
        periodic.register(
            periodic.Schedule(
                name="logistics: track shipments",
                task="logistics.tracking_poll",
                every_seconds=300,
                description="Ask carriers about shipments not delivered yet; warn of late ones.",
            )
        )
