"""core.models.bulk_insert: COPY with sequence keys on PostgreSQL, bulk_create elsewhere."""

from __future__ import annotations

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
