"""Store ticket attachments after their checks, within the uploader's quota."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from core import malware, storage
from core.errors import ApplicationError
from core.models import delete_with_files
from tickets.models import Attachment, Message, Ticket
from tickets.services.attachments import CheckedFile, audit_malware, check_upload, scan_upload


class AttachmentStore:
    """Check, then save, uploaded files of one request."""

    def check(self, upload: Any, *, actor: Any = None, target: Any = None) -> CheckedFile:
        """Check type and size, then scan for malware (refused and audited, see
        `scan_upload`). Call it before the transaction that stores the file, so the audit row
        of a refusal is kept."""
        checked = check_upload(upload)
        upload._welddesk_scan = scan_upload(upload, checked, actor=actor, target=target)
        upload._welddesk_checked = checked
        return checked

    def _quota(self, actor: Any, size: int) -> None:
        if not getattr(actor, "pk", None):
            return
        used = (
            Attachment.objects.filter(uploaded_by_id=actor.pk).aggregate(total=Sum("size"))["total"]
            or 0
        )
        if used + size > settings.ATTACHMENT_QUOTA_BYTES:
            raise ApplicationError(
                _("Your upload quota of %(mb)s MB is used up.")
                % {"mb": settings.ATTACHMENT_QUOTA_BYTES // (1024 * 1024)},
                code="quota",
                status_code=413,
            )

    def save(
        self,
        *,
        ticket: Ticket,
        upload: Any,
        actor: Any,
        message: Message | None = None,
        is_fault_photo: bool = False,
        owner: Any = None,
    ) -> Attachment:
        """Store a checked upload. `owner` names the person a file is of when the desk
        stores it for them (a received e-mail's original): theirs, so their erasure deletes
        it, but outside their quota (they did not choose to upload it)."""
        checked = getattr(upload, "_welddesk_checked", None) or self.check(
            upload, actor=actor, target=ticket
        )
        if owner is None:
            self._quota(actor, checked.size)
        attachment = Attachment(
            ticket=ticket,
            message=message,
            is_fault_photo=is_fault_photo,
            uploaded_by=owner or (actor if getattr(actor, "pk", None) else None),
            original_name=checked.name,
            content_type=checked.content_type,
            size=checked.size,
            sha256=checked.sha256,
            scan_status=upload._welddesk_scan,
        )
        upload.seek(0)
        # The storage name comes from attachment_path (a UUID), never from the upload's name.
        attachment.file.save("upload", upload, save=False)
        attachment.save(force_insert=True)
        return attachment


attachment_store = AttachmentStore()


def attachments_rescan(*, batch: int = 100) -> dict[str, int]:
    """Scan again the ticket attachments held while clamd could not be reached (beat)."""
    return malware.rescan_quarantined(
        Attachment.objects.all(), settle=attachment_scan_settle, batch=batch
    )


@transaction.atomic
def attachment_scan_settle(pk: int, verdict: malware.Verdict | None) -> str:
    """Release a held attachment found clean, or delete it (row and file) when clamd found
    malware in it or its file is gone; audited. Returns "released", "removed", or "" when it
    is no longer held."""
    from audit.services import audit_record

    held = Attachment.objects.filter(pk=pk, scan_status=malware.ScanStatus.PENDING)
    locked = held.select_for_update().first()
    if locked is None:
        return ""
    if verdict is not None and verdict.clean:
        locked.scan_status = malware.ScanStatus.CLEAN
        locked.save(update_fields=["scan_status"])
        audit_record(action="upload.released", actor="system:scanner", target=locked)
        return "released"
    audit_malware(
        "upload.removed",
        actor="system:scanner",
        target=locked,
        signature=verdict.signature if verdict is not None else "",
        sha256=locked.sha256,
        reason="malware" if verdict is not None else "file_missing",
    )
    delete_with_files(Attachment.objects.filter(pk=pk))
    return "removed"


def attachments_sweep_orphans(*, older_than_s: int = 3600, batch: int = 1000) -> int:
    """Delete stored files that no Attachment row names; return how many.

    A file is written before its row is committed, so an upload whose transaction rolled back
    leaves its file behind. Files younger than `older_than_s` are left alone: their
    transaction may still be running. Through the storage API, on the disk or in the bucket.
    """
    from django.core.files.storage import default_storage

    def known(keys) -> set[uuid.UUID]:
        rows = Attachment.objects.filter(storage_key__in=list(keys))
        return set(rows.values_list("storage_key", flat=True))

    return storage.sweep_orphans(
        storage=default_storage,
        prefix="attachments",
        known=known,
        older_than_s=older_than_s,
        batch=batch,
    )
