"""The other ways in: the phone system's call events (answer rate, missed callers), e-mail,
and the WeChat official account and WeCom callbacks."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = _("Intake")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import demo
        from core import metrics, periodic, reports
        from intake import checks, report_selectors, selectors  # noqa: F401  (checks: a deploy check)
        from intake import demo as intake_demo
        from intake.alarms import panels as alarm_panels
        from intake.mail import selectors as mail_selectors
        from tickets import panels
        from tickets.services import notify

        metrics.register_collector("telephony", selectors.phone_metrics)
        reports.register(report_selectors.REPORT)
        # Ticket e-mail answers the customer's own mails (In-Reply-To, References).
        if mail_selectors.received_ids not in notify.THREAD_SOURCES:
            notify.THREAD_SOURCES.append(mail_selectors.received_ids)
        periodic.register(
            periodic.Schedule(
                name="intake: mail poll",
                task="intake.mail_poll",
                every_seconds=60,
                description="Read the configured IMAP mailboxes (MAIL_IMAP_MAILBOXES).",
            )
        )
        periodic.register(
            periodic.Schedule(
                name="intake: silent machines",
                task="intake.silent_machines",
                every_seconds=60,
                description=(
                    "Open a ticket for a running machine that stopped reporting, where its "
                    "contract tier has a silence watch."
                ),
            )
        )
        panels.register(alarm_panels.ticket_alarms)
        demo.register_seeder(intake_demo.seed)
