"""Device status for partners and people (issue 23, points 3 and 4): the live state and the
last alarms in the unit API, the list by state, the silence watch, the ticket's panel."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from intake.tests.test_alarms import alarm, machine_tickets

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(alarm_world):
    """A read key of the same organisation (an alarms key may not read)."""
    from accounts.services.api_keys import api_key_create

    _key, token = api_key_create(actor=None, organisation=alarm_world.org, name="ERP")
    return {"HTTP_AUTHORIZATION": f"Api-Key {token}"}


def test_the_unit_shows_its_live_state_last_alarms_and_open_tickets(
    alarm_world, post_alarms, client, reader
):
    unit, quiet = alarm_world.units
    post_alarms(
        unit.serial_number,
        {"alarms": [alarm(1, minutes_ago=30, severity="major"), alarm(2, temperature_c=41.5)]},
        alarm_world.token,
    )

    body = client.get(f"/api/v1/units/{unit.serial_number}/", **reader).json()
    assert body["status"]["state"] == "stopped"
    assert body["status"]["last_alarm_code"] == "E-201"
    assert [a["alarm_id"] for a in body["last_alarms"]] == ["A-2", "A-1"]
    assert body["last_alarms"][0]["temperature_c"] == 41.5
    assert [t["reference"] for t in body["open_tickets"]] == [machine_tickets()[0].reference]

    never = client.get(f"/api/v1/units/{quiet.serial_number}/", **reader).json()
    assert never["status"]["state"] == "unknown" and never["last_alarms"] == []


def test_units_are_listed_by_state_within_the_key_organisation(
    alarm_world, post_alarms, client, reader, make_org, make_unit
):
    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create

    stopped, quiet = alarm_world.units
    other_org = make_org()
    other = make_unit(other_org)
    _k, other_alarms = api_key_create(
        actor=None, organisation=other_org, name="GW", scope=ApiScope.ALARMS
    )
    post_alarms(stopped.serial_number, {"alarms": [alarm(1)]}, alarm_world.token)
    post_alarms(other.serial_number, {"alarms": [alarm(1)]}, other_alarms)

    def serials(query):
        response = client.get(f"/api/v1/units/{query}", **reader)
        assert response.status_code == 200
        return [u["serial_number"] for u in response.json()["results"]]

    assert serials("?status=stopped") == [stopped.serial_number]
    assert serials("?status=unknown") == [quiet.serial_number]
    assert serials("?status=running") == []
    assert client.get("/api/v1/units/?status=broken", **reader).status_code == 400


def test_the_unit_list_reads_the_same_statements_for_one_unit_or_many(
    alarm_world, post_alarms, client, reader, make_unit
):
    for unit in alarm_world.units:
        post_alarms(unit.serial_number, {"alarms": [alarm(1)]}, alarm_world.token)
    client.get("/api/v1/units/", **reader)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/units/", **reader)
    for _n in range(4):
        unit = make_unit(alarm_world.org)
        post_alarms(unit.serial_number, {"alarms": [alarm(1)]}, alarm_world.token)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/v1/units/", **reader).json()["results"]) == 6
    assert len(many) == len(few)


def test_the_schema_documents_the_status_and_the_alarms_endpoint(staff_client):
    client, _staff = staff_client(roles=("supervisor",))
    schema = client.get("/api/schema/?format=json").json()
    assert "/api/v1/units/{serial_number}/alarms" in schema["paths"]
    unit = schema["components"]["schemas"]["UnitDetailOut"]["properties"]
    assert {"status", "last_alarms", "open_tickets"} <= set(unit)
    list_params = schema["paths"]["/api/v1/units/"]["get"]["parameters"]
    (status,) = [p for p in list_params if p["name"] == "status"]
    assert "stopped" in status["schema"]["enum"]


# ------------------------------------------------------------------- silent machines


def test_a_silent_running_machine_opens_one_ticket_when_its_contract_says_so(
    alarm_world, post_alarms
):
    from equipment.models import UnitStatus
    from intake.alarms.services import silent_machines_watch
    from intake.models import SilenceRule

    watched, unwatched = alarm_world.units
    unwatched.contract_tier = "standard"
    unwatched.save()
    SilenceRule.objects.create(contract_tier="premium", silent_after_minutes=30)
    for unit in (watched, unwatched):
        post_alarms(unit.serial_number, {"state": "running"}, alarm_world.token)
    UnitStatus.objects.update(last_seen_at=timezone.now() - dt.timedelta(minutes=31))

    assert silent_machines_watch() == {"opened": 1}
    assert silent_machines_watch() == {"opened": 0}  # once per silence
    (ticket,) = machine_tickets()
    assert ticket.unit_id == watched.pk and "silent" in ticket.subject.lower()
    assert UnitStatus.objects.get(unit=watched).silent_since is not None

    # It reports again: the silence is over, and a later one is a new ticket.
    post_alarms(watched.serial_number, {"state": "running"}, alarm_world.token)
    assert UnitStatus.objects.get(unit=watched).silent_since is None
    UnitStatus.objects.filter(unit=watched).update(
        last_seen_at=timezone.now() - dt.timedelta(minutes=45)
    )
    assert silent_machines_watch() == {"opened": 1}


def test_a_stopped_or_recent_machine_is_not_silent(alarm_world, post_alarms):
    from equipment.models import UnitStatus
    from intake.alarms.services import silent_machines_watch
    from intake.models import AlarmRule, SilenceRule

    AlarmRule.objects.all().delete()
    SilenceRule.objects.create(contract_tier="premium", silent_after_minutes=30)
    stopped, recent = alarm_world.units
    post_alarms(stopped.serial_number, {"state": "stopped"}, alarm_world.token)
    post_alarms(recent.serial_number, {"state": "running"}, alarm_world.token)
    UnitStatus.objects.filter(unit=stopped).update(
        last_seen_at=timezone.now() - dt.timedelta(hours=5)
    )

    assert silent_machines_watch() == {"opened": 0}


# ------------------------------------------------------------------- people see it


def test_the_agent_sees_the_alarms_on_the_machine_ticket(alarm_world, post_alarms, staff_client):
    unit = alarm_world.units[0]
    post_alarms(
        unit.serial_number,
        {"alarms": [alarm(1, minutes_ago=20, message="Chiller flow low"), alarm(2)]},
        alarm_world.token,
    )
    (ticket,) = machine_tickets()
    client, _agent = staff_client(roles=("supervisor",))

    page = client.get(f"/admin/tickets/ticket/{ticket.pk}/change/").content.decode()
    assert "Machine alarms" in page and "Chiller flow low" in page
    assert "2 alarms" in page and "Stopped since" in page
    assert "machine-state-stopped" in page  # the unit box too


def test_the_customer_sees_the_machine_state_on_its_page(
    alarm_world, post_alarms, client, make_customer
):
    from testsupport import sign_in

    unit = alarm_world.units[0]
    post_alarms(unit.serial_number, {"alarms": [alarm(1, message="Chiller")]}, alarm_world.token)
    sign_in(client, make_customer(alarm_world.org))

    page = client.get(f"/portal/machines/{unit.serial_number}/").content.decode()
    assert "Stopped" in page and "E-201" in page


def test_supervisors_filter_units_by_machine_state(alarm_world, post_alarms, staff_client):
    stopped, quiet = alarm_world.units
    post_alarms(stopped.serial_number, {"alarms": [alarm(1)]}, alarm_world.token)
    client, _supervisor = staff_client(roles=("supervisor",))

    page = client.get("/admin/equipment/unit/?state=stopped").content.decode()
    assert stopped.serial_number in page and quiet.serial_number not in page
    page = client.get("/admin/equipment/unit/?state=unknown").content.decode()
    assert quiet.serial_number in page and stopped.serial_number not in page
