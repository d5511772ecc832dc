"""Export the installed base in the import's format (CSV or XLSX)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts import selectors as account_selectors
from equipment.importing import export
from equipment.importing.export import export_recorded
from equipment.models import Unit


class Command(BaseCommand):
    help = (
        "Write every organisation, its active contacts and its units to OUT in the format "
        "import_installed_base reads, so that importing the file back changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", help="the file to write ('-' for standard output, CSV only)")
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")

    def handle(self, *args, **options):
        data = export(
            fmt=options["format"],
            organisations=account_selectors.organisations_for_export(),
            units=Unit.objects.all(),
        )
        export_recorded(actor=None, fmt=options["format"], units=Unit.objects.count())
        if options["out"] == "-":
            if options["format"] != "csv":
                raise CommandError("standard output takes CSV only")
            self.stdout.write(data.decode("utf-8"), ending="")
            return
        try:
            Path(options["out"]).write_bytes(data)
        except OSError as exc:
            raise CommandError(f"cannot write {options['out']}: {exc.strerror}") from exc
        self.stdout.write(f"wrote {len(data)} bytes to {options['out']}")
