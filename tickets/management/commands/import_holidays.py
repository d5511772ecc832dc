"""Import a year's statutory holidays and make-up working days into business calendars."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.errors import ApplicationError
from tickets.models import BusinessCalendar
from tickets.services.calendars import calendar_import_year


class Command(BaseCommand):
    help = (
        "Import public holidays and make-up working days from the holidays package. "
        "Days entered by hand are never overwritten."
    )

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, action="append", help="Year (repeatable).")
        parser.add_argument("--calendar", help="Name of one calendar (default: all).")

    def handle(self, *args, **options):
        years = options["year"] or [timezone.localdate().year, timezone.localdate().year + 1]
        calendars = BusinessCalendar.objects.exclude(holiday_country="")
        if options["calendar"]:
            calendars = calendars.filter(name=options["calendar"])
            if not calendars.exists():
                raise CommandError(f"No calendar named {options['calendar']!r} with a country.")
        for calendar in calendars:
            for year in years:
                try:
                    result = calendar_import_year(calendar=calendar, year=year, actor="system")
                except ApplicationError as exc:
                    raise CommandError(exc.message) from exc
                self.stdout.write(
                    f"{calendar.name} {year}: {result['created']} added, "
                    f"{result['updated']} updated, {result['removed']} removed"
                )
