"""Run a failover drill of a hotline against the running desk, and record it.

    manage.py failover_drill --line east --base-url http://127.0.0.1:8000
    manage.py failover_drill --schedule        # plan next month's drills (also monthly by beat)

The desk must be reachable at --base-url and have ALERTMANAGER_TOKEN set (the drill marks the
line down through the same webhook monitoring uses). See docs/status-page.md.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import customer_in_region
from status import drills
from status.models import Component, ComponentKind


class Command(BaseCommand):
    help = "Run a failover drill of one hotline end to end, or plan next month's drills."

    def add_arguments(self, parser):
        parser.add_argument("--line", help="the line, e.g. east (component hotline-east)")
        parser.add_argument("--base-url", default=settings.SITE_URL, help="the running desk")
        parser.add_argument("--limit", type=float, default=120.0, help="seconds per check, at most")
        parser.add_argument(
            "--first-notice-limit",
            type=float,
            default=drills.FIRST_NOTICE_LIMIT_SECONDS,
            help="seconds from the alert to the last first notice in the outbox, at most",
        )
        parser.add_argument("--schedule", action="store_true", help="plan next month's drills")

    def handle(self, *args, line, base_url, limit, first_notice_limit, schedule, **options):
        if schedule:
            created = drills.drills_schedule()
            self.stdout.write(f"{created} drill(s) planned for next month.")
            return
        if not line:
            raise CommandError("Name the line: --line east (or use --schedule).")
        component = Component.objects.filter(
            key=f"hotline-{line}", kind=ComponentKind.HOTLINE
        ).first()
        if component is None:
            raise CommandError(f"No hotline component hotline-{line}.")
        if not settings.ALERTMANAGER_TOKEN:
            raise CommandError(
                "ALERTMANAGER_TOKEN is not set: the drill cannot mark the line down."
            )
        if not base_url:
            raise CommandError("Give the running desk's address: --base-url http://...")
        customer = customer_in_region(component.region_id)
        try:
            drill = drills.drill_run(
                component=component,
                base_url=base_url,
                token=settings.ALERTMANAGER_TOKEN,
                customer=customer,
                limit_seconds=limit,
                first_notice_limit=first_notice_limit,
                actor="system:drill",
                say=self.stdout.write,
            )
        except (OSError, ValueError) as exc:
            raise CommandError(f"The desk at {base_url} did not answer: {exc}") from exc
        if drill.outcome != "passed":
            raise CommandError(f"Drill failed: {drill.notes}")
