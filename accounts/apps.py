"""Accounts app: organisations, users, staff roles, sign-in and two-factor authentication."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.apps import apps

        from accounts import oidc, permissions, roles, selectors  # noqa: F401 (oidc: its check)

        # django_otp's TOTP plugin has no verbose name of its own (the index would say
        # "Otp_Totp"); an app's verbose name is not part of any migration.
        if apps.is_installed("django_otp.plugins.otp_totp"):
            apps.get_app_config("otp_totp").verbose_name = _("Two-factor authentication")
            # Its model names are plain strings: the same English made lazy, so the admin shows
            # the catalogue's Chinese (core/translations.py). Migrations read Meta's original
            # attributes, so no migration of django_otp changes.
            device = apps.get_model("otp_totp", "TOTPDevice")
            device._meta.verbose_name = _("TOTP device")
            device._meta.verbose_name_plural = _("TOTP devices")
        from audit import people
        from audit.admin import ACTOR_RESOLVERS
        from core import periodic
        from core.admin import ALL_REGIONS_CHECKS

        if selectors.actor_ref_for_email not in ACTOR_RESOLVERS:
            ACTOR_RESOLVERS.append(selectors.actor_ref_for_email)
        if selectors.people_labels not in people.LABELLERS:
            people.LABELLERS.append(selectors.people_labels)
        if permissions.sees_all_regions not in ALL_REGIONS_CHECKS:
            ALL_REGIONS_CHECKS.append(permissions.sees_all_regions)
        post_migrate.connect(roles.ensure_on_migrate, dispatch_uid="accounts.reference_data")
        periodic.register(
            periodic.Schedule(
                name="accounts: forget expired login throttles",
                task="accounts.tasks.login_throttle_cleanup",
                every_seconds=3600,
                description="Delete login-failure counters whose window and lock have passed.",
            )
        )
