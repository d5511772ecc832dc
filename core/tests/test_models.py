"""core.models.bulk_insert: COPY with sequence keys on PostgreSQL, bulk_create elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from accounts.models import Organisation, Region
from core import crypto
from core.models import bulk_insert

pytestmark = pytest.mark.django_db


def test_bulk_insert_sets_keys_and_writes_every_field_as_save_would():
    east = Region.objects.get(code="east")
    rows = [
        Organisation(
            name=f"Copy Co {n}", region=east, tier="plus", contact_email=f"buyer{n}@copy.example"
        )
        for n in range(3)
    ]
    bulk_insert(rows)
    assert all(row.pk for row in rows)
    assert len({row.pk for row in rows}) == 3
    stored = Organisation.objects.get(pk=rows[1].pk)
    assert (stored.name, stored.tier, stored.region_id) == ("Copy Co 1", "plus", east.pk)
    # Encrypted at rest, found through its blind index, like a row written by save().
    assert stored.contact_email == "buyer1@copy.example"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT contact_email FROM {Organisation._meta.db_table} WHERE id = %s",  # noqa: S608
            [rows[1].pk],
        )
        (raw,) = cursor.fetchone()
    assert raw and "buyer1" not in raw
    assert (
        Organisation.objects.get(
            contact_email_bidx=crypto.blind_index("email", "buyer2@copy.example")
        ).pk
        == rows[2].pk
    )
    # The sequence moved on: a later insert gets a new key.
    later = Organisation.objects.create(name="Later", region=east)
    assert later.pk > max(row.pk for row in rows)


def test_bulk_insert_of_nothing_does_nothing():
    bulk_insert([])


def test_files_go_only_when_their_rows_deletion_commits(
    tmp_path, settings, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile
    from django.db import transaction

    from core.models import delete_with_files
    from tickets.models import Attachment, Ticket

    settings.MEDIA_ROOT = str(tmp_path)
    ticket = Ticket.objects.create(
        reference="WD-2026-999999",
        organisation=_organisation(),
        subject="s",
    )
    attachment = Attachment(
        ticket=ticket, content_type="text/plain", size=1, sha256="0" * 64, original_name="a.txt"
    )
    attachment.file.save("upload", ContentFile(b"x"), save=False)
    attachment.save()
    path = attachment.file.path

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        delete_with_files(Attachment.objects.filter(pk=attachment.pk))
        raise Abort
    assert Attachment.objects.filter(pk=attachment.pk).exists()
    assert Path(path).exists()  # rolled back: the file is still there

    with django_capture_on_commit_callbacks(execute=True):
        delete_with_files(Attachment.objects.filter(pk=attachment.pk))
    assert not Path(path).exists()


def _organisation():
    return Organisation.objects.create(name="Files Co", region=Region.objects.get(code="east"))
