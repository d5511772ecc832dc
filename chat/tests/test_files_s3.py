"""Chat files in object storage (STORAGE_BACKEND=s3): uploaded over HTTP into the bucket,
shown or downloaded through a short-lived signed URL after the conversation check, swept when
their upload was rolled back. The bucket is on moto's S3 server (the `s3` fixture)."""

from __future__ import annotations

import time
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from chat import services
from chat.models import ChatAttachment
from chat.tests.conftest import PNG, upload
from testsupport import sign_in

pytestmark = pytest.mark.django_db


def signed_query(response) -> dict[str, str]:
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def test_chat_files_go_to_the_bucket_and_come_back_by_signed_url(
    s3, settings, world, make_customer
):
    conversation, customer, agent = world
    client = sign_in(Client(), customer)
    image = upload(client, conversation.pk, "seam.png", PNG)
    log = upload(client, conversation.pk, "alarm.txt", b"E30 at 10:02\n")
    assert image.status_code == 201 and log.status_code == 201
    stored = {a.original_name: a for a in ChatAttachment.objects.all()}
    assert s3.keys() == sorted(s3.key(a.file.name) for a in stored.values())
    assert all(a.file.name.startswith("chat/") for a in stored.values())
    assert not settings.MEDIA_ROOT.exists() or not any(settings.MEDIA_ROOT.rglob("*.*"))

    # An image is shown inline, typed as checked on upload.
    shown = client.get(image.json()["url"])
    query = signed_query(shown)
    assert query["response-content-disposition"] == 'inline; filename="seam.png"'
    assert query["response-content-type"] == "image/png"
    assert query["X-Amz-Expires"] == str(settings.S3_SIGNED_URL_SECONDS)
    with urllib.request.urlopen(shown["Location"], timeout=10) as answer:  # noqa: S310
        assert answer.read() == PNG
        assert answer.headers["Content-Type"] == "image/png"

    # Anything else is an opaque download, for the agent too.
    downloaded = sign_in(Client(), agent).get(log.json()["url"])
    query = signed_query(downloaded)
    assert query["response-content-disposition"] == 'attachment; filename="alarm.txt"'
    assert query["response-content-type"] == "application/octet-stream"
    with urllib.request.urlopen(downloaded["Location"], timeout=10) as answer:  # noqa: S310
        assert answer.read() == b"E30 at 10:02\n"
        assert answer.headers["Content-Disposition"].startswith("attachment")

    # Someone outside the conversation learns nothing, not even an address.
    refused = sign_in(Client(), make_customer()).get(image.json()["url"])
    assert refused.status_code == 404 and "Location" not in refused


def test_the_chat_orphan_sweep_deletes_objects_no_row_names(s3, world, monkeypatch):
    from core import storage

    conversation, customer, _agent = world
    kept = upload(sign_in(Client(), customer), conversation.pk, "seam.png", PNG)
    assert kept.status_code == 201
    orphan = "chat/ef/ef" + "2" * 30
    s3.put(orphan, PNG)
    assert services.chat_attachments_sweep_orphans(older_than_s=3600) == 0
    later = time.time() + 7200
    monkeypatch.setattr(storage.time, "time", lambda: later)
    assert services.chat_attachments_sweep_orphans(older_than_s=3600) == 1
    assert s3.keys() == [s3.key(ChatAttachment.objects.get().file.name)]


def test_the_chat_orphan_sweep_works_on_the_local_disk_too(settings, tmp_path, world):
    import os

    settings.MEDIA_ROOT = tmp_path
    conversation, customer, _agent = world
    upload(sign_in(Client(), customer), conversation.pk, "seam.png", PNG)
    kept = tmp_path / ChatAttachment.objects.get().file.name
    orphan = tmp_path / "chat" / "ef" / ("ef" + "2" * 30)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(PNG)
    old = time.time() - 7200
    for path in (kept, orphan):
        os.utime(path, (old, old))
    assert services.chat_attachments_sweep_orphans(older_than_s=3600) == 1
    assert kept.exists() and not orphan.exists()
