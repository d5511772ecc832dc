"""Ticket attachments in object storage (STORAGE_BACKEND=s3): stored in the bucket, never on
the disk, handed out after the permission check by a short-lived signed URL, swept and
rescanned through the storage API. The bucket is on moto's S3 server (the `s3` fixture)."""

from __future__ import annotations

import calendar
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.malware import ScanStatus
from testsupport import sign_in
from tickets.models import Attachment
from tickets.services import tickets as svc

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def upload(name="seam 1.png", content=PNG):
    return SimpleUploadedFile(name, content, content_type="text/html")  # a lying browser


def fetch(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (test server)
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def local_files(settings) -> list:
    return (
        [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]
        if settings.MEDIA_ROOT.exists()
        else []
    )


def test_a_reply_through_the_portal_stores_its_photo_in_the_bucket_not_on_disk(
    s3, settings, client, make_customer, open_ticket
):
    customer = make_customer()
    ticket = open_ticket(customer)
    sign_in(client, customer)
    response = client.post(
        reverse("portal:ticket", args=[ticket.reference]),
        {"action": "reply", "body": "Photo of the seam.", "photos": [upload()]},
    )
    assert response.status_code == 302
    attachment = Attachment.objects.get(ticket=ticket)
    assert (
        attachment.file.name
        == f"attachments/{attachment.storage_key.hex[:2]}/{attachment.storage_key.hex}"
    )
    assert s3.keys() == [f"desk/{attachment.file.name}"]
    assert s3.read(attachment.file.name) == PNG
    stored = s3.head(attachment.file.name)
    # Whatever the browser claimed, the object is an opaque download, encrypted at rest.
    assert stored["ContentType"] == "application/octet-stream"
    assert stored["ContentDisposition"] == "attachment"
    assert stored["ServerSideEncryption"] == "AES256"
    assert local_files(settings) == []


def test_the_owner_is_redirected_to_a_short_lived_signed_url_a_stranger_gets_404(
    s3, client, make_customer, open_ticket
):
    owner = make_customer()
    ticket = open_ticket(owner, attachments=[upload('weld "7".png')])
    attachment = Attachment.objects.get(ticket=ticket)
    url = reverse("tickets:attachment", args=[attachment.pk])

    stranger = make_customer()
    sign_in(client, stranger)
    refused = client.get(url)
    assert refused.status_code == 404 and "Location" not in refused
    assert s3.name not in refused.content.decode()

    sign_in(client, owner)
    before = time.time()
    response = client.get(url)
    assert response.status_code == 302
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    signed = response["Location"]
    parts = urlsplit(signed)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}" == s3.server.endpoint
    assert parts.path == f"/{s3.name}/desk/{attachment.file.name}"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Signature"]
    # Valid for S3_SIGNED_URL_SECONDS from now, not for the botocore default of an hour.
    assert query["X-Amz-Expires"] == "60"
    signed_at = calendar.timegm(time.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    assert before - 2 <= signed_at <= time.time() + 2
    assert query["response-content-disposition"] == 'attachment; filename="weld 7.png"'
    assert query["response-content-type"] == "application/octet-stream"

    status, headers, body = fetch(signed)
    assert status == 200 and body == PNG
    assert headers["Content-Disposition"] == 'attachment; filename="weld 7.png"'
    assert headers["content-type"] == "application/octet-stream"
    assert headers["Cache-Control"] == "private, no-store"
    # The object's own address, unsigned, is refused: the bucket is private.
    assert fetch(signed.split("?", 1)[0])[0] == 403


def test_the_signed_url_lives_as_long_as_configured(
    s3, settings, client, make_customer, open_ticket
):
    settings.S3_SIGNED_URL_SECONDS = 1
    owner = make_customer()
    attachment = open_ticket(owner, attachments=[upload()]).attachments.get()
    sign_in(client, owner)
    signed = client.get(reverse("tickets:attachment", args=[attachment.pk]))["Location"]
    assert parse_qs(urlsplit(signed).query)["X-Amz-Expires"] == ["1"]


def test_a_file_held_for_the_virus_scan_gets_no_url(s3, client, make_customer, open_ticket):
    owner = make_customer()
    attachment = open_ticket(owner, attachments=[upload()]).attachments.get()
    Attachment.objects.filter(pk=attachment.pk).update(scan_status=ScanStatus.PENDING)
    sign_in(client, owner)
    held = client.get(reverse("tickets:attachment", args=[attachment.pk]))
    assert held.status_code == 409 and "Location" not in held


def test_the_orphan_sweep_deletes_objects_no_row_names(s3, monkeypatch, make_customer, open_ticket):
    """A rolled-back upload leaves its object behind; the sweep lists the bucket and deletes
    it once it is old enough, and keeps the objects rows name and those not ours."""
    from core import storage
    from tickets.services.attachments_store import attachments_sweep_orphans

    kept = open_ticket(make_customer(), attachments=[upload()]).attachments.get()
    orphan = "attachments/ab/ab" + "0" * 30
    s3.put(orphan, b"\x89PNG orphan")
    s3.put("attachments/README", b"not one of ours")
    assert attachments_sweep_orphans(older_than_s=3600) == 0  # all still young
    assert s3.key(orphan) in set(s3.keys())
    later = time.time() + 7200
    monkeypatch.setattr(storage.time, "time", lambda: later)
    assert attachments_sweep_orphans(older_than_s=3600) == 1
    assert s3.keys() == sorted([s3.key(kept.file.name), s3.key("attachments/README")])


def test_the_quarantine_rescan_reads_the_object_and_deletes_malware(
    s3, clamd, make_customer, open_ticket, django_capture_on_commit_callbacks
):
    from testsupport import eicar
    from tickets.services.attachments_store import attachments_rescan

    customer = make_customer()
    ticket = open_ticket(customer, attachments=[upload()])
    clean = ticket.attachments.get()
    bad = svc.ticket_reply(
        ticket=ticket, author=customer, body="log", attachments=[upload("log.txt", b"log line\n")]
    ).attachments.get()
    # Held while clamd was away; the held file turned out to be malware.
    s3.put(bad.file.name, eicar())
    Attachment.objects.filter(pk__in=[clean.pk, bad.pk]).update(scan_status=ScanStatus.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        assert attachments_rescan() == {"released": 1, "removed": 1, "waiting": 0}
    assert s3.keys() == [s3.key(clean.file.name)]
    clean.refresh_from_db()
    assert clean.scan_status == ScanStatus.CLEAN


def test_a_deleted_object_is_removed_by_the_rescan_as_missing(
    s3, clamd, make_customer, open_ticket
):
    from tickets.services.attachments_store import attachments_rescan

    attachment = open_ticket(make_customer(), attachments=[upload()]).attachments.get()
    Attachment.objects.filter(pk=attachment.pk).update(scan_status=ScanStatus.PENDING)
    s3.client.delete_object(Bucket=s3.name, Key=s3.key(attachment.file.name))
    assert attachments_rescan()["removed"] == 1
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
