"""Two batches of one machine at the same time, on PostgreSQL: a gateway's retry racing its
first try, or two gateways for one cell. They are applied one after the other (the unit's
status row is locked for a batch), so nothing is stored twice and one ticket is opened."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from intake.alarms import services as alarm_services
from intake.tests.test_alarms import alarm, machine_tickets
from tickets.tests.test_concurrency import overlapped, run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slow_audit(monkeypatch):
    """Hold each batch's transaction (and its lock) a moment at its end, so they collide."""
    original = alarm_services.audit_record

    def slow(**kwargs):
        time.sleep(0.4)
        return original(**kwargs)

    monkeypatch.setattr(alarm_services, "audit_record", slow)


def post(serial, batch, token):
    return Client().post(
        f"/api/v1/units/{serial}/alarms",
        json.dumps(batch),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {token}",
    )


def test_the_same_batch_twice_at_once_is_stored_once_and_opens_one_ticket(alarm_world, slow_audit):
    from equipment.models import Alarm

    unit = alarm_world.units[0]
    post(unit.serial_number, {"state": "running"}, alarm_world.token)  # it reported before
    batch = {"alarms": [alarm(1), alarm(2, minutes_ago=9)]}
    outcomes = run_together([lambda: post(unit.serial_number, batch, alarm_world.token)] * 2)

    assert [o.error for o in outcomes] == [None, None]
    assert overlapped(*outcomes), "the two requests did not run at the same time"
    bodies = sorted((o.value.json() for o in outcomes), key=lambda body: body["accepted"])
    assert [o.value.status_code for o in outcomes] == [200, 200]
    assert [(b["accepted"], b["duplicates"]) for b in bodies] == [(0, 2), (2, 0)]
    assert Alarm.objects.filter(unit=unit).count() == 2
    assert len(machine_tickets()) == 1


def test_two_batches_of_one_code_at_once_open_one_ticket_and_join_it(alarm_world, slow_audit):
    from intake.models import AlarmTicket

    unit = alarm_world.units[0]
    post(unit.serial_number, {"state": "running"}, alarm_world.token)
    batches = [{"alarms": [alarm(1, minutes_ago=12)]}, {"alarms": [alarm(2, minutes_ago=11)]}]
    outcomes = run_together(
        [lambda b=b: post(unit.serial_number, b, alarm_world.token) for b in batches]
    )

    assert [o.error for o in outcomes] == [None, None]
    assert overlapped(*outcomes), "the two requests did not run at the same time"
    (ticket,) = machine_tickets()
    assert AlarmTicket.objects.get(ticket=ticket).repeats == 1
