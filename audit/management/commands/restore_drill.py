"""Restore the latest backup into a scratch database, verify it, and report RTO and RPO.

    manage.py restore_drill                     # the newest *.dump in BACKUP_DIR
    manage.py restore_drill --file /backups/welddesk-2026-12-07.dump --json

See audit/restore_drill.py for what is checked, docs/operations.md ("Backups") for the
backups themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.restore_drill import DrillFailed, latest_backup, restore_drill


class Command(BaseCommand):
    help = (
        "Restore a pg_dump into a scratch database, run audit_verify on it (with this "
        "process's keys), compare row counts with the live database, report RTO and RPO."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", help="the dump to restore (default: the newest in --dir)")
        parser.add_argument(
            "--dir", default=settings.BACKUP_DIR, help="where the dumps are (BACKUP_DIR)"
        )
        parser.add_argument("--jobs", type=int, default=2, help="parallel pg_restore jobs")
        parser.add_argument("--keep", action="store_true", help="keep the scratch database")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the result as JSON"
        )

    def handle(self, *args, file, dir, jobs, keep, as_json, **options):
        try:
            backup = Path(file) if file else latest_backup(Path(dir))
            self.stderr.write(f"Restoring {backup} into a scratch database…")
            result = restore_drill(backup=backup, keep=keep, jobs=jobs)
        except DrillFailed as exc:
            raise CommandError(f"restore drill FAILED: {exc}") from exc
        figures = result.as_json()
        if as_json:
            self.stdout.write(json.dumps(figures, indent=2, sort_keys=True))
            return
        rpo = figures["rpo_seconds"]
        self.stdout.write(
            f"Restore drill of {result.backup}: verified.\n"
            f"  RTO {figures['rto_seconds']} s (restore {figures['restore_seconds']} s, "
            f"verification {figures['verify_seconds']} s)\n"
            f"  RPO {'unknown (no audit event)' if rpo is None else f'{rpo} s'}: newest row "
            f"{figures['newest_row_at']}\n"
            f"  audit chain to seq {result.chain_head}, {result.checkpoints_checked} signed "
            f"checkpoints checked: {result.verification}\n"
            f"  {figures['tables']} tables; differing from the live database now: "
            f"{figures['tables_differing'] or 'none'}"
        )
