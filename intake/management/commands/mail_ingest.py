"""manage.py mail_ingest FILE... [--queue SLUG]: feed .eml files (or - for standard input,
e.g. from an MTA's pipe) to the one ingest service."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from intake.mail.services import mail_ingest
from tickets.models import Queue


class Command(BaseCommand):
    help = "Ingest e-mail files (.eml) as tickets or replies; '-' reads standard input."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
        parser.add_argument("--queue", default="", help="The queue's code for new tickets.")

    def handle(self, *args, files, queue, **options):
        target = None
        if queue:
            target = Queue.objects.filter(slug=queue, is_active=True).first()
            if target is None:
                raise CommandError(f"No active queue with the code {queue!r}.")
        failed = 0
        for name in files:
            try:
                raw = sys.stdin.buffer.read() if name == "-" else open(name, "rb").read()  # noqa: SIM115
                done = mail_ingest(raw=raw, source="file", queue=target)
            except OSError as exc:
                failed += 1
                self.stderr.write(f"{name}: cannot read ({exc.strerror})")
                continue
            except ApplicationError as exc:
                failed += 1
                self.stderr.write(f"{name}: {exc.message}")
                continue
            again = " (already received)" if done.duplicate else ""
            self.stdout.write(f"{name}: {done.outcome} ticket={done.ticket_id or '-'}{again}")
        if failed:
            raise CommandError(f"{failed} of {len(files)} file(s) not ingested.")
