"""App configuration for the equipment registry."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EquipmentConfig(AppConfig):
    name = "equipment"
    verbose_name = _("Equipment")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import demo
        from equipment.demo import seed

        demo.register_seeder(seed)
