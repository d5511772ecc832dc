"""Import the installed base (organisations, contacts, units) from an ERP's CSV or XLSX file."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts import selectors as account_selectors
from equipment.importing import MAX_BYTES, ImportRefused, import_installed_base, may_import


class Command(BaseCommand):
    help = (
        "Import organisations, contacts and units from a CSV or XLSX file in the format of "
        "docs/operations.md. All or nothing: a file with any row error writes nothing. "
        "--dry-run shows what would change."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .csv (UTF-8) or .xlsx file")
        parser.add_argument("--dry-run", action="store_true", help="change nothing; show the plan")
        parser.add_argument(
            "--actor", help="e-mail of the supervisor the audit rows name (default: the system)"
        )
        parser.add_argument(
            "--move",
            action="store_true",
            help="a serial owned by another organisation moves to the file's (else an error)",
        )
        parser.add_argument(
            "--show", type=int, default=20, help="how many changes and errors to list (20)"
        )

    def handle(self, *args, **options):
        actor = None
        if options["actor"]:
            actor = account_selectors.user_by_email(options["actor"])
            if actor is None or not may_import(actor):
                raise CommandError("--actor must be the e-mail of an active supervisor")
        path = Path(options["file"])
        try:
            if path.stat().st_size > MAX_BYTES:
                raise CommandError(f"{path} is larger than {MAX_BYTES // 2**20} MB; split it")
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        started = time.monotonic()
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.monotonic()
            if done == total or now - last[0] >= 1:
                last[0] = now
                rate = done / max(now - started, 1e-6)
                self.stdout.write(f"  {stage}: {done}/{total} ({rate:,.0f} rows/s)")

        try:
            plan = import_installed_base(
                data=data,
                actor=actor,
                move=options["move"],
                dry_run=options["dry_run"],
                progress=progress,
            )
        except ImportRefused as exc:
            raise CommandError(exc.message) from exc
        seconds = time.monotonic() - started
        show = max(options["show"], 0)
        self.stdout.write(
            f"{plan.format.upper()} file, {plan.rows} rows, sha256 {plan.sha256[:16]}…, "
            f"{seconds:.1f} s ({plan.rows / max(seconds, 1e-6):,.0f} rows/s)"
        )
        for kind, counts in plan.counts_dict().items():
            self.stdout.write(
                f"  {kind}: {counts['create']} to create, {counts['update']} to update, "
                f"{counts['unchanged']} unchanged"
            )
        for change in plan.changes[:show]:
            fields = f" ({', '.join(change.fields)})" if change.fields else ""
            self.stdout.write(
                f"  line {change.line}: {change.action} {change.kind} {change.key}{fields}"
            )
        if len(plan.changes) > show:
            self.stdout.write(f"  … and {len(plan.changes) - show} more changes")
        if plan.errors:
            for error in plan.errors[:show]:
                self.stderr.write(f"  {error}")
            if len(plan.errors) > show:
                self.stderr.write(f"  … and {len(plan.errors) - show} more errors")
            raise CommandError(f"{len(plan.errors)} errors: nothing was imported")
        if options["dry_run"]:
            self.stdout.write("dry run: nothing was changed")
        else:
            self.stdout.write(self.style.SUCCESS("imported"))
