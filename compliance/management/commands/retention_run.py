"""Apply the retention periods now (what the nightly task does); --dry-run only counts."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from compliance.retention import retention_run


class Command(BaseCommand):
    help = "Remove personal data past its retention period; --dry-run says what would go."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args, **options):
        counts = retention_run(dry_run=options["dry_run"])
        verb = "would remove" if options["dry_run"] else "removed"
        for area, found in counts.items():
            details = ", ".join(f"{n} {what}" for what, n in found.items())
            self.stdout.write(f"{area}: {verb} {details}")
