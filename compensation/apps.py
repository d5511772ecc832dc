"""App configuration for compensation: policies, assessments, grants and vouchers."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CompensationConfig(AppConfig):
    name = "compensation"
    verbose_name = _("Compensation")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import demo
        from compensation import report_selectors, selectors
        from compensation.demo import seed
        from core import periodic
        from core import reports as supervisor_reports
        from status import reports

        demo.register_seeder(seed)
        reports.register(_("Compensation offered"), selectors.report_lines)
        supervisor_reports.register(report_selectors.INCIDENTS)
        supervisor_reports.register(report_selectors.GRANTED)
        periodic.register(
            periodic.Schedule(
                name="compensation: assess events",
                task="compensation.assess_pending",
                every_seconds=3600,
                description="Assess resolved incidents and breached P1/P2 tickets by policy.",
            )
        )
