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
