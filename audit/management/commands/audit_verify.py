"""Verify the audit chain against its signed checkpoints; exit non-zero naming what broke."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_verification


class Command(BaseCommand):
    help = (
        "Check that no audit event was edited, deleted, inserted or reordered, and that the "
        "chain still holds everything the signed checkpoints covered."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoints",
            metavar="PATH",
            help="the checkpoint store to check against (default: AUDIT_CHECKPOINT_PATH), "
            "e.g. a copy fetched from the append-only store",
        )

    def handle(self, *args, **options):
        report = audit_verification(
            checkpoint_path=options["checkpoints"] or settings.AUDIT_CHECKPOINT_PATH
        )
        result = report.verification
        if not report.ok:
            lines = []
            if not result.ok:
                lines.append(
                    f"audit chain BROKEN at seq {result.first_bad_seq}: {result.reason} "
                    f"({result.count} events verified before it)"
                )
            lines += report.problems
            raise CommandError("\n".join(lines))
        anchored = (
            f"matches {report.checkpoints} signed checkpoints (the latest at seq "
            f"{report.latest.seq} on {report.latest.at})"
            if report.latest
            else f"no checkpoint yet in {report.store}"
        )
        self.stdout.write(
            f"audit chain OK: {result.count} events, "
            f"head seq {result.last_seq}, hash {result.last_hash}; {anchored}"
            + (f"; {report.pending} events waiting to be sealed" if report.pending else "")
        )
