"""Write a signed checkpoint of the audit chain now (beat does it every few minutes)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.services import CheckpointRefused, audit_checkpoint
from audit.signing import key_id


class Command(BaseCommand):
    help = (
        "Sign the audit chain's head (seq, hash, time) and append it to AUDIT_CHECKPOINT_PATH; "
        "refused when the chain no longer extends the latest checkpoint."
    )

    def handle(self, *args, **options):
        try:
            row = audit_checkpoint()
        except CheckpointRefused as exc:
            raise CommandError(exc.message) from exc
        except OSError as exc:
            raise CommandError(
                f"cannot append to AUDIT_CHECKPOINT_PATH ({settings.AUDIT_CHECKPOINT_PATH}): {exc}"
            ) from exc
        self.stdout.write(
            f"audit checkpoint: seq {row.seq}, hash {row.hash}, signed by key "
            f"{key_id(row.public_key)} and appended to {settings.AUDIT_CHECKPOINT_PATH}"
        )
