"""App configuration for tickets: periodic SLA scan, auto-close and holiday refresh, home
blocks and the supervisors' ticket reports."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import demo
        from core import home, metrics, periodic
        from tickets import reports, selectors
        from tickets.demo import seed
        from tickets.home import ticket_blocks
        from tickets.services import search_index

        demo.register_seeder(seed)
        home.register(ticket_blocks)
        reports.register()
        search_index.register()
        metrics.register_collector("tickets", selectors.sla_metrics)
        from django.db.models.signals import post_delete, post_save

        from tickets.models import CannedResponse

        for signal in (post_save, post_delete):
            signal.connect(
                selectors.canned_responses_changed,
                sender=CannedResponse,
                dispatch_uid=f"canned-responses-{signal is post_save}",
            )

        for schedule in (
            periodic.Schedule(
                name="tickets: SLA scan",
                task="tickets.sla_scan",
                every_seconds=60,
                description="Fire due SLA warnings, breaches and escalations (one set query).",
            ),
            periodic.Schedule(
                name="tickets: close resolved tickets",
                task="tickets.close_resolved",
                crontab="17 * * * *",
                description="Close tickets resolved more than 7 days ago.",
            ),
            periodic.Schedule(
                name="tickets: recount agent loads",
                task="tickets.rebuild_agent_loads",
                crontab="7 * * * *",
                description="Recount each agent's open tickets (heals any drift of the counts).",
            ),
            periodic.Schedule(
                name="tickets: sweep orphan attachment files",
                task="tickets.sweep_attachments",
                crontab="50 4 * * *",
                description="Delete stored files whose upload was rolled back.",
            ),
            periodic.Schedule(
                name="tickets: scan quarantined attachments again",
                task="tickets.rescan_attachments",
                every_seconds=300,
                description="Scan again the uploads held while the virus scanner was away; "
                "release the clean ones, delete malware.",
            ),
            periodic.Schedule(
                name="tickets: import public holidays",
                task="tickets.refresh_holidays",
                crontab="30 3 1 * *",
                description="Import this and next year's statutory holidays into every calendar.",
            ),
        ):
            periodic.register(schedule)
