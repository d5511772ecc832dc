"""Export audit events as a ZIP with a signed manifest (the admin's export, for big ranges)."""

from __future__ import annotations

import datetime as dt
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit import export
from audit.services import audit_record


def _day(value: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not a date (YYYY-MM-DD): {value}") from exc
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


class Command(BaseCommand):
    help = "Write audit events (a date range, optionally filtered) to a ZIP with a signed manifest."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="the ZIP to write")
        parser.add_argument("--format", choices=export.FORMATS, default="csv")
        parser.add_argument("--since", help="first day (YYYY-MM-DD), inclusive")
        parser.add_argument("--until", help="last day (YYYY-MM-DD), exclusive")
        parser.add_argument("--actor", default="", help="e.g. user:42")
        parser.add_argument("--action", default="", help="e.g. ticket.opened or ticket.*")
        parser.add_argument(
            "--public-key", action="store_true", help="print the verification key and stop"
        )

    def handle(self, *args, **options):
        if options["public_key"]:
            self.stdout.write(export.public_key_b64())
            return
        if not options["out"]:
            raise CommandError("--out is required")
        filters = export.Filters(
            actor=options["actor"],
            action=options["action"],
            since=_day(options["since"]) if options["since"] else None,
            until=_day(options["until"]) if options["until"] else None,
        )
        summary = export.Summary()
        written = 0
        with open(options["out"], "wb") as out:
            for part in export.stream(
                filters=filters, fmt=options["format"], exporter="system:cli", summary=summary
            ):
                out.write(part)
                written += len(part)
                if summary.count and summary.count % 100_000 < export.CHUNK:
                    sys.stderr.write(f"\r  {summary.count:,} events, {written / 1e6:.1f} MB")
        sys.stderr.write("\n")
        audit_record(
            action="audit.exported",
            actor="system:cli",
            data={
                "format": options["format"],
                "filters": filters.as_dict(),
                "count": summary.count,
                "sha256": summary.sha256,
            },
        )
        self.stdout.write(
            f"{summary.count} events written to {options['out']} (sha256 {summary.sha256}); "
            f"verify with: python tools/verify_audit_export.py {options['out']} "
            f"--public-key {summary.manifest['public_key']}"
        )
