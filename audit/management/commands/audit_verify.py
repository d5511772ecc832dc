"""Verify the audit hash chain; exit non-zero at the first broken sequence number."""

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import chain_verify


class Command(BaseCommand):
    help = "Check that no audit event was edited, deleted, inserted or reordered."

    def handle(self, *args, **options):
        result = chain_verify()
        if not result.ok:
            raise CommandError(
                f"audit chain BROKEN at seq {result.first_bad_seq}: {result.reason} "
                f"({result.count} events verified before it)"
            )
        from audit.models import PendingAuditEvent

        pending = PendingAuditEvent.objects.count()
        self.stdout.write(
            f"audit chain OK: {result.count} events, "
            f"head seq {result.last_seq}, hash {result.last_hash}"
            + (f"; {pending} events waiting to be sealed" if pending else "")
        )
