from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Customer portal")

    def ready(self) -> None:
        from portal import banners
        from status.selectors import banners_for

        # Incidents and maintenance touching the customer's region or the nationwide channels.
        banners.register(banners_for)
