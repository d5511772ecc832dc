"""Accept uploaded files: size limit, type allowlist checked by content, a malware scan by
clamd (quarantine while it cannot answer), random storage names."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils.translation import gettext as _

from core import malware
from core.errors import ApplicationError

logger = logging.getLogger(__name__)

# Allowed types: what the first bytes must look like, and the type we serve it as.
_SIGNATURES: list[tuple[str, tuple[bytes, ...], str]] = [
    ("png", (b"\x89PNG\r\n\x1a\n",), "image/png"),
    ("jpeg", (b"\xff\xd8\xff",), "image/jpeg"),
    ("gif", (b"GIF87a", b"GIF89a"), "image/gif"),
    ("pdf", (b"%PDF-",), "application/pdf"),
]
TEXT_EXTENSIONS = {".txt", ".log", ".csv"}


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content_type: str
    size: int
    sha256: str
    is_image: bool


def safe_name(name: str) -> str:
    """Return a display file name without paths, control characters or header breakers."""
    name = unicodedata.normalize("NFC", os.path.basename(str(name or "").replace("\\", "/")))
    name = re.sub(r"[\x00-\x1f\x7f\"';]", "", name).strip(" .")
    return name[:200] or "file"


def sniff(head: bytes, name: str) -> tuple[str, bool] | None:
    """Return (content type, is image) judged from the content, or None if not allowed."""
    for _kind, magics, content_type in _SIGNATURES:
        if any(head.startswith(m) for m in magics):
            return content_type, content_type.startswith("image/")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", True
    if head[4:8] == b"ftyp" and head[8:12] in (b"isom", b"mp42", b"mp41", b"avc1", b"M4V "):
        return "video/mp4", False
    if head[4:8] == b"ftyp" and head[8:10] == b"qt":
        return "video/quicktime", False
    ext = os.path.splitext(name.lower())[1]
    if ext in TEXT_EXTENSIONS and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is still text.
            if exc.start < len(head) - 4:
                return None
        lowered = head.lstrip().lower()
        if lowered.startswith((b"<!doctype", b"<html", b"<svg", b"<?xml", b"<script")):
            return None
        return "text/plain", False
    return None


def check_upload(upload: Any) -> CheckedFile:
    """Validate one uploaded file; raise ApplicationError with a clear message if refused."""
    name = safe_name(getattr(upload, "name", "") or "")
    size = getattr(upload, "size", None)
    if size is None:
        raise ApplicationError(_("The upload could not be read."))
    limit = settings.ATTACHMENT_MAX_BYTES
    if size > limit:
        raise ApplicationError(
            _("%(name)s is larger than the limit of %(mb)s MB.")
            % {"name": name, "mb": limit // (1024 * 1024)},
            code="too_large",
            status_code=413,
        )
    if size == 0:
        raise ApplicationError(_("%(name)s is empty.") % {"name": name})
    upload.seek(0)
    head = upload.read(2048)
    kind = sniff(head, name)
    if kind is None:
        raise ApplicationError(
            _(
                "%(name)s is not an allowed file type. Allowed: photos (JPEG, PNG, GIF, WebP), "
                "videos (MP4, MOV), PDF and text logs."
            )
            % {"name": name},
            code="file_type",
            status_code=415,
        )
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in (
        upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(65536), b"")
    ):
        digest.update(chunk)
    upload.seek(0)
    return CheckedFile(
        name=name, content_type=kind[0], size=size, sha256=digest.hexdigest(), is_image=kind[1]
    )


def scan_upload(upload: Any, checked: CheckedFile, *, actor: Any, target: Any) -> str:
    """Scan a checked upload for malware; return the scan status to store it with.

    Malware is refused with a clear message and the refusal is audited (the caller scans
    before its own transaction, so this row outlives the refusal). When clamd gives no
    verdict the file is not let through: it is stored PENDING, served to nobody, until
    `quarantine_rescan` gets a verdict.
    """
    if not malware.scanning_enabled():
        return malware.ScanStatus.UNSCANNED
    try:
        verdict = malware.scan(upload)
    except malware.ScannerUnavailable as exc:
        logger.warning("upload held in quarantine until it can be scanned: %s", exc)
        return malware.ScanStatus.PENDING
    if verdict.clean:
        return malware.ScanStatus.CLEAN
    _audit_malware(
        "upload.refused",
        actor=actor,
        target=target,
        signature=verdict.signature,
        sha256=checked.sha256,
    )
    raise ApplicationError(
        _(
            "%(name)s was refused: the virus scanner found %(signature)s in it. "
            "Please check the file and your computer."
        )
        % {"name": checked.name, "signature": verdict.signature},
        code="malware",
        status_code=422,
    )


def _audit_malware(
    action: str, *, actor: Any, target: Any, signature: str, sha256: str, reason: str = "malware"
) -> None:
    from audit.services import audit_record

    audit_record(
        action=action,
        actor=actor,
        target=target,
        outcome="denied",
        data={"reason": reason, "signature": signature, "sha256": sha256},
    )


def quarantine_rescan(*, model: type[models.Model], batch: int = 100) -> dict[str, int]:
    """Scan again the files of `model` held PENDING; release the clean ones, delete malware.

    Each file is scanned outside any transaction (a scan may take seconds), then its row is
    locked and changed only if still pending. Stops at the first scan that gets no verdict:
    clamd is still away, the next run tries again. Returns counts by outcome.
    """
    from audit.services import audit_record
    from core.models import delete_with_files

    counts = {"released": 0, "removed": 0, "waiting": 0}
    if not malware.scanning_enabled():
        return counts
    pending = model.objects.filter(scan_status=malware.ScanStatus.PENDING)
    for pk in list(pending.order_by("created_at", "pk").values_list("pk", flat=True)[:batch]):
        row = pending.filter(pk=pk).first()
        if row is None:
            continue
        try:
            with row.file.open("rb") as handle:
                verdict = malware.scan(handle)
        except FileNotFoundError:
            verdict = None  # the file is gone: nothing to serve, drop the row
        except malware.ScannerUnavailable as exc:
            logger.warning("quarantined uploads still wait for the scanner: %s", exc)
            counts["waiting"] = pending.count()
            return counts
        with transaction.atomic():
            locked = pending.select_for_update().filter(pk=pk).first()
            if locked is None:
                continue
            if verdict is not None and verdict.clean:
                locked.scan_status = malware.ScanStatus.CLEAN
                locked.save(update_fields=["scan_status"])
                audit_record(action="upload.released", actor="system:scanner", target=locked)
                counts["released"] += 1
            else:
                _audit_malware(
                    "upload.removed",
                    actor="system:scanner",
                    target=locked,
                    signature=verdict.signature if verdict is not None else "",
                    sha256=locked.sha256,
                    reason="malware" if verdict is not None else "file_missing",
                )
                delete_with_files(model.objects.filter(pk=pk))
                counts["removed"] += 1
    return counts
