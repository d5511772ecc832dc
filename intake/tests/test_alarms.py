"""Machines report their own alarms (issue 23, point 3): stored once, the machine's state
moved, the supervisors' rules open tickets and merge repeats, silent machines noticed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db


# One instant for the module's alarms, so their spacing is exact.
NOW = timezone.now().replace(microsecond=0)


def alarm(n, *, code="E-201", severity="critical", minutes_ago=10, **fields):
    at = NOW - dt.timedelta(minutes=minutes_ago)
    return {
        "alarm_id": f"A-{n}",
        "code": code,
        "severity": severity,
        "occurred_at": at.isoformat(),
        **fields,
    }


def machine_tickets():
    from tickets.models import Channel, Ticket

    return list(Ticket.objects.filter(channel=Channel.MACHINE).order_by("pk"))


def test_a_critical_alarm_stops_the_machine_and_opens_one_ticket(alarm_world, post_alarms):
    from equipment.models import Alarm, UnitStatus

    unit = alarm_world.units[0]
    batch = {"alarms": [alarm(1, message="Chiller flow low", laser_power_w=2950, extra={"x": 1})]}

    response = post_alarms(unit.serial_number, batch, alarm_world.token)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0 and body["state"] == "stopped"
    (ticket,) = machine_tickets()
    assert body["opened"] == [ticket.reference]
    assert ticket.unit_id == unit.pk and ticket.priority == 2
    assert "E-201" in ticket.subject and unit.serial_number in ticket.subject
    stored = Alarm.objects.get(unit=unit)
    assert stored.laser_power_w == 2950 and stored.extra == {"x": 1}
    assert UnitStatus.objects.get(unit=unit).state == "stopped"


def test_a_batch_sent_again_stores_nothing_twice(alarm_world, post_alarms):
    from equipment.models import Alarm

    unit = alarm_world.units[0]
    batch = {"alarms": [alarm(1), alarm(2, code="E-305", severity="minor")]}
    first = post_alarms(unit.serial_number, batch, alarm_world.token).json()
    again = post_alarms(unit.serial_number, batch, alarm_world.token, slash=True).json()

    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert (again["accepted"], again["duplicates"], again["opened"]) == (0, 2, [])
    assert Alarm.objects.filter(unit=unit).count() == 2
    assert len(machine_tickets()) == 1


def test_repeats_within_the_window_join_the_open_ticket_and_later_ones_open_another(
    alarm_world, post_alarms
):
    from intake.models import AlarmTicket

    unit = alarm_world.units[0]
    post_alarms(unit.serial_number, {"alarms": [alarm(1, minutes_ago=200)]}, alarm_world.token)
    joined = post_alarms(
        unit.serial_number,
        {"alarms": [alarm(2, minutes_ago=160), alarm(3, minutes_ago=150)]},
        alarm_world.token,
    ).json()
    # 150 minutes ago + 60 minutes of window < 10 minutes ago: a new ticket.
    later = post_alarms(
        unit.serial_number, {"alarms": [alarm(4, minutes_ago=10)]}, alarm_world.token
    ).json()

    tickets = machine_tickets()
    assert len(tickets) == 2
    assert joined["opened"] == [] and joined["joined"] == 2
    assert later["opened"] == [tickets[1].reference]
    first_link = AlarmTicket.objects.get(ticket=tickets[0])
    assert first_link.repeats == 2
    assert first_link.last_at == first_link.first_at + dt.timedelta(minutes=50)


def test_another_code_or_another_machine_is_not_a_repeat(alarm_world, post_alarms):
    one, two = alarm_world.units
    post_alarms(one.serial_number, {"alarms": [alarm(1)]}, alarm_world.token)
    post_alarms(one.serial_number, {"alarms": [alarm(2, code="E-202")]}, alarm_world.token)
    post_alarms(two.serial_number, {"alarms": [alarm(1)]}, alarm_world.token)

    assert len(machine_tickets()) == 3


def test_a_resolved_ticket_is_not_joined(alarm_world, post_alarms, queue_setup):
    from tickets.services.tickets import ticket_transition

    _queue, supervisor, _agents = queue_setup
    unit = alarm_world.units[0]
    post_alarms(unit.serial_number, {"alarms": [alarm(1, minutes_ago=20)]}, alarm_world.token)
    (ticket,) = machine_tickets()
    ticket_transition(ticket=ticket, status="resolved", actor=supervisor)
    post_alarms(unit.serial_number, {"alarms": [alarm(2, minutes_ago=19)]}, alarm_world.token)

    assert len(machine_tickets()) == 2


def test_the_rules_decide_which_alarms_open_tickets(alarm_world, post_alarms):
    from intake.models import AlarmRule

    AlarmRule.objects.create(code="E-301", min_severity="info", opens_ticket=False)
    AlarmRule.objects.create(code="E-999", min_severity="minor", priority=1)
    unit = alarm_world.units[0]
    batch = {
        "alarms": [
            alarm(1, code="E-301", severity="critical"),  # its own rule: never a ticket
            alarm(2, code="E-400", severity="minor"),  # the catch-all wants major
            alarm(3, code="E-999", severity="minor"),  # its own rule, from minor, P1
        ]
    }
    body = post_alarms(unit.serial_number, batch, alarm_world.token).json()

    (ticket,) = machine_tickets()
    assert body["opened"] == [ticket.reference] and body["accepted"] == 3
    assert "E-999" in ticket.subject and ticket.priority == 1


def test_the_state_follows_the_machine_not_a_late_retry(alarm_world, post_alarms):
    from equipment.models import UnitStatus

    unit = alarm_world.units[0]
    post_alarms(unit.serial_number, {"alarms": [alarm(1, minutes_ago=30)]}, alarm_world.token)
    cleared = alarm(2, code="E-201", severity="info", minutes_ago=20, state="running")
    post_alarms(unit.serial_number, {"alarms": [cleared]}, alarm_world.token)
    # An older critical alarm retried late does not stop a machine that runs again.
    post_alarms(unit.serial_number, {"alarms": [alarm(3, minutes_ago=25)]}, alarm_world.token)
    assert UnitStatus.objects.get(unit=unit).state == "running"

    heartbeat = post_alarms(unit.serial_number, {"state": "warning"}, alarm_world.token)
    assert heartbeat.json()["state"] == "warning"
    assert UnitStatus.objects.get(unit=unit).state == "warning"


@pytest.mark.parametrize(
    ("batch", "field"),
    [
        ([], "body"),
        ({"alarms": "E-201"}, "alarms"),
        ({"alarms": [], "colour": 1}, "body"),
        ({"alarms": []}, "alarms"),
        ({"alarms": [{"code": "E-1"}]}, "alarms[0].alarm_id"),
        ({"alarms": [alarm(1, severity="fatal")]}, "alarms[0].severity"),
        ({"alarms": [alarm(1, code="E 201; DROP")]}, "alarms[0].code"),
        ({"alarms": [alarm(1, minutes_ago=-60)]}, "alarms[0].occurred_at"),
        ({"alarms": [alarm(1, minutes_ago=60 * 24 * 40)]}, "alarms[0].occurred_at"),
        ({"alarms": [{**alarm(1), "occurred_at": "2026-12-08T09:00:00"}]}, "alarms[0].occurred_at"),
        (
            {"alarms": [{**alarm(1), "occurred_at": "2026-13-45T99:00:00Z"}]},
            "alarms[0].occurred_at",
        ),
        ({"alarms": [alarm(1, laser_power_w=True)]}, "alarms[0].laser_power_w"),
        ({"alarms": [alarm(1, temperature_c=5000)]}, "alarms[0].temperature_c"),
        ({"alarms": [alarm(1, extra={f"k{i}": i for i in range(21)})]}, "alarms[0].extra"),
        ({"alarms": [alarm(1, extra={"k": "x" * 201})]}, "alarms[0].extra.k"),
        ({"alarms": [alarm(1, extra={"bad key": 1})]}, "alarms[0].extra"),
        ({"alarms": [alarm(1, owner="me")]}, "alarms[0]"),
        ({"alarms": [alarm(n) for n in range(101)]}, "alarms"),
        ({"alarms": [alarm(1), "E-201"]}, "alarms[1]"),
        ({"state": "exploded"}, "state"),
    ],
)
def test_a_bad_alarm_refuses_the_whole_batch(alarm_world, post_alarms, batch, field):
    from equipment.models import Alarm, UnitStatus

    unit = alarm_world.units[0]
    if isinstance(batch, dict) and batch.get("alarms") and isinstance(batch["alarms"], list):
        batch = {**batch, "alarms": [alarm(90), *batch["alarms"]]}  # a good one first
        field = field.replace("alarms[", "alarms[#").replace("#0", "1").replace("#1", "2")
    response = post_alarms(unit.serial_number, batch, alarm_world.token)

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Alarm.objects.exists() and not UnitStatus.objects.exists()
    assert machine_tickets() == []


def test_a_body_that_is_not_json_is_a_400(alarm_world, client):
    response = client.post(
        f"/api/v1/units/{alarm_world.units[0].serial_number}/alarms",
        data=b"{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {alarm_world.token}",
    )
    assert response.status_code == 400


def test_only_an_alarms_key_of_the_unit_owner_may_post(
    alarm_world, post_alarms, make_org, make_unit, client, make_customer
):
    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create

    unit = alarm_world.units[0]
    _k, read_write = api_key_create(
        actor=None, organisation=alarm_world.org, name="ERP", scope=ApiScope.READ_WRITE
    )
    foreign_unit = make_unit(make_org())
    batch = {"alarms": [alarm(1)]}

    assert post_alarms(unit.serial_number, batch, read_write).status_code == 403
    assert post_alarms(foreign_unit.serial_number, batch, alarm_world.token).status_code == 404
    assert post_alarms("NO-SUCH-SERIAL", batch, alarm_world.token).status_code == 404
    client.force_login(make_customer(alarm_world.org))
    response = client.post(
        f"/api/v1/units/{unit.serial_number}/alarms", data=batch, content_type="application/json"
    )
    assert response.status_code == 403
    assert machine_tickets() == []


def test_an_alarms_key_can_do_nothing_else(alarm_world, client):
    auth = {"HTTP_AUTHORIZATION": f"Api-Key {alarm_world.token}"}
    assert client.get("/api/v1/tickets/", **auth).status_code == 403
    serial = alarm_world.units[0].serial_number
    assert client.get(f"/api/v1/units/{serial}/", **auth).status_code == 403
    response = client.post(
        "/api/v1/tickets/",
        data={"subject": "x", "body": "y"},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 403


def test_the_batch_is_audited_once_with_the_key_as_actor(alarm_world, post_alarms):
    from audit.models import AuditEvent

    unit = alarm_world.units[0]
    post_alarms(unit.serial_number, {"alarms": [alarm(1), alarm(2)]}, alarm_world.token)

    (event,) = AuditEvent.objects.filter(action="unit.alarms_received")
    assert event.actor_ref.startswith("api_key:")
    assert event.data["accepted"] == 2 and event.data["joined"] == 1


def test_retention_deletes_old_alarms_in_chunks_and_keeps_the_rest(alarm_world, settings):
    from compliance.retention import retention_run
    from equipment.alarm_services import alarms_expire
    from equipment.models import Alarm

    unit = alarm_world.units[0]
    settings.RETENTION_ALARM_DAYS = 180
    long_ago = timezone.now() - dt.timedelta(days=181)
    Alarm.objects.bulk_create(
        Alarm(
            unit=unit,
            alarm_id=f"{age}-{n}",
            code="E-1",
            severity="info",
            occurred_at=long_ago,
            received_at=timezone.now() - dt.timedelta(days=age),
        )
        for age in (181, 179)
        for n in range(5)
    )

    assert alarms_expire(received_before=long_ago + dt.timedelta(hours=1), dry_run=True) == {
        "alarms": 5
    }
    assert Alarm.objects.count() == 10
    assert alarms_expire(
        received_before=long_ago + dt.timedelta(hours=1), dry_run=False, chunk=2
    ) == {"alarms": 5}
    assert sorted({a.split("-")[0] for a in Alarm.objects.values_list("alarm_id", flat=True)}) == [
        "179"
    ]
    assert retention_run()["alarms"] == {"alarms": 0}
