"""Accept uploaded files: size limit, type allowlist checked by content, a malware scan by
clamd (quarantine while it cannot answer), random storage names."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from core import malware
from core.errors import ApplicationError

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
    verdict the file is not let through: it is stored PENDING, served to nobody, until the
    owning app's rescan (core.malware.rescan_quarantined) gets a verdict.
    """
    screening = malware.screen(upload)
    if not screening.found:
        return screening.status
    audit_malware(
        "upload.refused",
        actor=actor,
        target=target,
        signature=screening.found,
        sha256=checked.sha256,
    )
    raise ApplicationError(
        _(
            "%(name)s was refused: the virus scanner found %(signature)s in it. "
            "Please check the file and your computer."
        )
        % {"name": checked.name, "signature": screening.found},
        code="malware",
        status_code=422,
    )


def audit_malware(
    action: str, *, actor: Any, target: Any, signature: str, sha256: str, reason: str = "malware"
) -> None:
    """Audit a file refused or removed for malware (or removed because its file was gone)."""
    from audit.services import audit_record

    audit_record(
        action=action,
        actor=actor,
        target=target,
        outcome="denied",
        data={"reason": reason, "signature": signature, "sha256": sha256},
    )
