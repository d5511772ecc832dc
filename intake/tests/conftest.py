import pytest

from status.tests.conftest import components, sev  # noqa: F401 (the status fixtures)
from tickets.tests.conftest import (  # noqa: F401 (the ticket fixtures mail lands in)
    machine,
    make_unit,
    open_ticket,
    queue_setup,
    sla_setup,
)


@pytest.fixture
def make_calls(db):
    """Calls written straight to the table (bulk), for the reports: (line, started, seconds
    to answer or None, how it ended: "answered", "abandoned", "unanswered" or "ringing")."""
    import datetime as dt

    from intake.models import Call

    counter = {"n": 0}

    def make(rows: list[tuple]) -> list[Call]:
        calls = []
        for line, started, to_answer, outcome in rows:
            counter["n"] += 1
            answered = started + dt.timedelta(seconds=to_answer) if to_answer is not None else None
            calls.append(
                Call(
                    call_id=f"report-{counter['n']}",
                    line=line,
                    started_at=started,
                    answered_at=answered,
                    abandoned=outcome == "abandoned",
                    ended_at=None if outcome == "ringing" else started + dt.timedelta(minutes=5),
                )
            )
        return Call.objects.bulk_create(calls)

    return make


@pytest.fixture
def alarm_world(sla_setup, queue_setup, make_org, make_unit):  # noqa: F811
    """An organisation with two machines, an alarms key (its token) and a rule that opens a
    P2 ticket for any major or critical alarm, merging repeats within an hour."""
    import types

    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create
    from intake.models import AlarmRule

    org = make_org()
    units = [make_unit(org), make_unit(org)]
    _key, token = api_key_create(
        actor=None, organisation=org, name="Gateway", scope=ApiScope.ALARMS
    )
    rule = AlarmRule.objects.create(code="", min_severity="major", priority=2, merge_minutes=60)
    return types.SimpleNamespace(org=org, units=units, token=token, rule=rule)


@pytest.fixture
def post_alarms(client):
    """POST a batch to /api/v1/units/<serial>/alarms with a key; returns the response."""
    import json

    def post(serial, batch, token, *, slash=False):
        return client.post(
            f"/api/v1/units/{serial}/alarms" + ("/" if slash else ""),
            data=json.dumps(batch),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {token}",
        )

    return post
