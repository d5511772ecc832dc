"""The privacy duties with uploads in object storage (STORAGE_BACKEND=s3): the data export
reads a person's files from the bucket, erasure and retention delete their objects once the
deletion commits. The bucket is on moto's S3 server (the `s3` fixture)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from compliance import services
from compliance.models import ErasureStatus
from compliance.tests.test_dsar import PNG
from testsupport import sign_in

pytestmark = pytest.mark.django_db

LOG = b"E30 at 10:02\nE30 at 10:05\n"


def png(name="seam.png"):
    return SimpleUploadedFile(name, PNG, content_type="image/png")


@pytest.fixture
def uploads(make_org, make_customer):
    """Two customers of one organisation, each with a ticket photo and a chat file."""
    from chat import services as chat_services
    from tickets.defaults import ensure_calendar, ensure_policies
    from tickets.services.tickets import ticket_open

    ensure_policies(ensure_calendar())
    org = make_org("Hengrui")
    made = {}
    for label in ("me", "colleague"):
        person = make_customer(org, email=f"{label}@hengrui.example", full_name=label.title())
        ticket = ticket_open(
            actor=person,
            organisation=org,
            requester=person,
            subject=f"Pores ({label})",
            body="See the photo.",
            attachments=[png(f"{label}-seam.png")],
        )
        chat = chat_services.conversation_open(customer=person)
        log = SimpleUploadedFile(f"{label}-alarm.txt", LOG, content_type="text/plain")
        chat_services.attachment_upload(conversation=chat, user=person, upload=log)
        made[label] = (person, ticket, chat)
    return made


def _objects_of(s3, person) -> list[str]:
    from chat.models import ChatAttachment
    from tickets.models import Attachment

    names = [a.file.name for a in Attachment.objects.filter(uploaded_by=person)]
    names += [a.file.name for a in ChatAttachment.objects.filter(uploaded_by=person)]
    return sorted(s3.key(n) for n in names)


def test_the_data_export_holds_the_persons_files_read_from_the_bucket(
    s3, settings, client, uploads, password
):
    me = uploads["me"][0]
    assert len(s3.keys()) == 4 and not settings.MEDIA_ROOT.exists()
    sign_in(client, me)
    response = client.post(reverse("portal:data_export"), {"password": password})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    files = {n: archive.read(n) for n in archive.namelist() if n.startswith("attachments/")}
    assert sorted(files) == [n for n in sorted(files) if "colleague" not in n]
    [photo] = [n for n in files if n.startswith("attachments/tickets/")]
    [log] = [n for n in files if n.startswith("attachments/chats/")]
    assert photo.endswith("me-seam.png") and files[photo] == PNG
    assert log.endswith("me-alarm.txt") and files[log] == LOG
    assert "missing from storage" not in archive.read("README.txt").decode()


def test_an_erasure_deletes_the_persons_objects_and_no_one_elses(
    s3, uploads, make_staff, password, django_capture_on_commit_callbacks
):
    me, colleague = uploads["me"][0], uploads["colleague"][0]
    theirs = _objects_of(s3, colleague)
    assert len(_objects_of(s3, me)) == 2
    request = services.erasure_request(subject=me, actor=me, password=password)
    officer = make_staff(roles=("compliance_officer",))
    with django_capture_on_commit_callbacks(execute=True):
        done = services.erasure_review(request=request, actor=officer, approve=True)
    assert done.status == ErasureStatus.DONE
    assert done.summary["tickets"]["attachments"] == 1 and done.summary["chat"]["attachments"] == 1
    assert s3.keys() == theirs


def test_retention_deletes_the_objects_of_old_tickets_and_chats(
    s3, uploads, django_capture_on_commit_callbacks
):
    from chat.models import Conversation
    from compliance.retention import retention_run
    from tickets.models import Ticket

    _me, old_ticket, old_chat = uploads["me"]
    kept = _objects_of(s3, uploads["colleague"][0])
    long_ago = timezone.now() - dt.timedelta(days=5000)
    Ticket.objects.filter(pk=old_ticket.pk).update(status="closed", closed_at=long_ago)
    Conversation.objects.filter(pk=old_chat.pk).update(status="closed", closed_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        counts = retention_run()
    assert counts["tickets"]["attachments"] == 1 and counts["chats"]["attachments"] == 1
    assert s3.keys() == kept
