"""Archives are not an allowed type, so a zip bomb or an oversized docx is refused from its first
bytes, never opened or extracted; downloads go through the permission check and, in production,
nginx's X-Accel-Redirect, with a sanitised `filename*`, nosniff and a sandbox CSP."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.errors import ApplicationError
from testsupport import sign_in
from tickets.models import Attachment

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def files_under(path) -> list:
    return [p for p in path.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        # 64 MB of zeros (over the 20 MB limit once unpacked) in a file of about 64 kB.
        ("logs.zip", lambda: zip_bytes({"huge.log": b"\x00" * (64 * 2**20)})),
        # 20,000 entries.
        ("many.zip", lambda: zip_bytes({f"f{n}.txt": b"x" for n in range(20_000)})),
        # A docx is a zip too, here with a 64 MB document part.
        (
            "report.docx",
            lambda: zip_bytes(
                {"[Content_Types].xml": b"<Types/>", "word/document.xml": b" " * (64 * 2**20)}
            ),
        ),
    ],
    ids=["zip-bomb", "zip-many-files", "docx-oversized"],
)
def test_archives_are_refused_by_type_without_being_extracted(
    name, content, open_ticket, settings, tmp_path, monkeypatch
):
    content = content()
    assert len(content) < settings.ATTACHMENT_MAX_BYTES  # small packed: only unpacking is big
    settings.MEDIA_ROOT = tmp_path / "media"
    opened: list[str] = []
    monkeypatch.setattr(
        zipfile.ZipFile, "__init__", lambda *a, **k: opened.append("zip") or 1 / 0
    )  # any attempt to open the archive would show here
    with pytest.raises(ApplicationError, match="not an allowed file type") as exc:
        open_ticket(attachments=[SimpleUploadedFile(name, content)])
    assert exc.value.status_code == 415
    assert opened == []
    assert not Attachment.objects.exists() and files_under(tmp_path) == []


@pytest.mark.django_db
def test_downloads_are_handed_to_nginx_after_the_permission_check(
    client, open_ticket, make_customer, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_X_ACCEL_PREFIX = "/protected"
    owner = make_customer()
    ticket = open_ticket(owner, attachments=[SimpleUploadedFile('焊缝 "7";\r\nX-Evil: 1.png', PNG)])
    attachment = Attachment.objects.get(ticket=ticket)
    url = reverse("tickets:attachment", args=[attachment.pk])
    sign_in(client, make_customer())  # another organisation
    assert client.get(url).status_code == 404
    sign_in(client, owner)
    response = client.get(url)
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected/{attachment.file.name}"
    assert response.content == b""  # nginx sends the file, not Django
    # The stored name is the attachment's UUID, nothing the uploader chose.
    assert attachment.file.name == (
        f"attachments/{attachment.storage_key.hex[:2]}/{attachment.storage_key.hex}"
    )
    assert str(settings.MEDIA_ROOT) not in str(settings.STATIC_ROOT or "")
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''")
    assert quote("焊缝 7X-Evil: 1.png") in disposition
    assert "\r" not in disposition and "\n" not in disposition and '"7"' not in disposition
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "X-Evil" not in response.headers
