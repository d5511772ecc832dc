"""Lean intake (issue 22, point 1): what one ticket opened through the API costs the database.

On PostgreSQL with deferred audit sealing (production's setting there) a create is three
statements in the request and one commit: the unit, one statement drawing the reference,
the ticket's id and the assignee, one writing every row, and the commit; the API key comes
from the shared cache (read again at most once, when its 10 s entry ran out between two
requests). The deliveries the commit hands to the workers are not the request's.
"""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import PendingAuditEvent
from notifications.models import Outbox
from tickets.models import AgentLoad, Message, QueueMember, SearchTerm, SLATimer, Ticket
from tickets.tests.test_api import api, call, new_ticket  # noqa: F401 - the fixture

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the statement budget is PostgreSQL's"
)


def _request_statements(ctx) -> tuple[list[str], int]:
    """The statements of the request up to its commit (BEGIN aside), and its commits."""
    sqls = [q["sql"] for q in ctx.captured_queries]
    commits = sum(1 for s in sqls if s.strip().upper() == "COMMIT")
    work = [s for s in sqls if s.strip().upper() not in ("BEGIN", "COMMIT")]
    return work, commits


def _kind(sql: str) -> str:
    """What a statement of the create is, by its start."""
    starts = {
        'SELECT "equipment_unit".': "unit",
        "WITH pick ": "draw",
        'WITH w0 AS (INSERT INTO "tickets_ticket" ': "write",
        'SELECT "accounts_apikey".': "key",
    }
    return next((kind for start, kind in starts.items() if sql.startswith(start)), sql[:160])


def _create(api, n: int):  # noqa: F811 - the fixture's name
    body = new_ticket(api, subject=f"Wire feed jams, line {n}")
    body.pop("fault_report")
    # Deliveries run in the workers after commit, not in the request.
    with mock.patch("core.queue.send_now"):
        return call("post", "/api/v1/tickets/", api.rw, body)


@postgres_only
@pytest.mark.audit_deferred
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("earlier", [1, 20])
def test_an_api_create_is_three_statements_and_one_commit(api, earlier):  # noqa: F811
    for n in range(earlier):  # warm caches; 1 and many tickets in the queue
        assert _create(api, n).status_code == 201
    with CaptureQueriesContext(connection) as ctx:
        response = _create(api, 999)
    assert response.status_code == 201, response.content
    work, commits = _request_statements(ctx)
    assert commits == 1, work
    kinds = [_kind(s) for s in work]
    assert [k for k in kinds if k != "key"] == ["unit", "draw", "write"], kinds
    assert kinds.count("key") <= 1, kinds
    ticket = Ticket.objects.get(reference=response.json()["reference"])
    # Everything the service wrote before is still written.
    assert SLATimer.objects.filter(ticket=ticket).count() == 8
    assert Message.objects.filter(ticket=ticket).count() == 1
    assert SearchTerm.objects.filter(ticket=ticket).exists()
    assert PendingAuditEvent.objects.filter(
        action="ticket.opened", target_id=str(ticket.pk)
    ).exists()
    assert ticket.assignee_id is not None and ticket.sla_next_due is not None
    assert Outbox.objects.filter(key__startswith=f"ticket-assigned:{ticket.pk}:").exists()
    member = QueueMember.objects.get(queue=ticket.queue, agent=ticket.assignee)
    assert member.last_assigned_at == ticket.created_at
    loads = dict(AgentLoad.objects.values_list("agent_id", "open_tickets"))
    assert sum(loads.values()) == earlier + 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_assignment_spreads_over_the_least_loaded_members(api, queue_setup):  # noqa: F811
    _queue, _supervisor, agents = queue_setup
    assignees = []
    for n in range(6):
        response = _create(api, n)
        assignees.append(Ticket.objects.get(reference=response.json()["reference"]).assignee_id)
    assert sorted(assignees) == sorted([a.pk for a in agents] * 2)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_references_come_from_the_years_sequence(api):  # noqa: F811
    from tickets.services import references

    first = _create(api, 1).json()["reference"]
    second = _create(api, 2).json()["reference"]
    assert int(second[-6:]) == int(first[-6:]) + 1
    assert references.counter_last(int(first[3:7])) == int(second[-6:])


shared_cache_only = pytest.mark.skipif(
    "locmem" in __import__("django.conf").conf.settings.CACHES["default"]["BACKEND"].lower(),
    reason="keys are cached only in a cache shared by every process (Redis)",
)


def _key_reads(ctx) -> int:
    return sum(1 for q in ctx.captured_queries if '"accounts_apikey"' in q["sql"])


@shared_cache_only
def test_the_key_is_read_from_the_shared_cache_and_a_revocation_is_refused_at_once(
    api,  # noqa: F811
    queue_setup,
):
    from django.core.cache import cache

    from accounts.services.api_keys import _cache_key, api_key_revoke

    assert call("get", "/api/v1/tickets/", api.rw).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert call("get", "/api/v1/tickets/", api.rw).status_code == 200
    assert _key_reads(ctx) == 0  # from the cache
    # What another process put in the shared cache is the same entry this one reads.
    assert cache.get(_cache_key(api.rw_key.prefix)).pk == api.rw_key.pk
    api_key_revoke(key=api.rw_key, actor=queue_setup[1])
    assert cache.get(_cache_key(api.rw_key.prefix), "gone") == "gone"
    response = call("get", "/api/v1/tickets/", api.rw)
    assert response.status_code == 401
    assert call("post", "/api/v1/tickets/", api.rw, new_ticket(api)).status_code == 401


@shared_cache_only
def test_a_deactivated_organisation_drops_its_cached_keys(api, queue_setup):  # noqa: F811
    from accounts.services.organisations import organisation_update

    assert call("get", "/api/v1/tickets/", api.rw).status_code == 200
    organisation_update(organisation=api.org, actor=queue_setup[1], is_active=False)
    assert call("get", "/api/v1/tickets/", api.rw).status_code == 401


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_with_every_member_locked_the_opening_waits_and_still_assigns(
    api,  # noqa: F811
    queue_setup,
):
    """SKIP LOCKED finds nobody when every member's row is held by other openings: the
    opening then assigns with waiting locks instead of leaving the ticket unassigned."""
    import threading

    from django.db import connections, transaction

    queue, _supervisor, agents = queue_setup
    held, release = threading.Event(), threading.Event()

    def hold_all_members():
        try:
            with transaction.atomic():
                list(QueueMember.objects.select_for_update().filter(queue=queue))
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_all_members)
    holder.start()
    assert held.wait(10)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    response = _create(api, 1)
    waited = time.monotonic() - started
    holder.join(10)
    assert waited >= 0.4  # it waited for a member's lock (the fallback), not skipped them all
    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get(reference=response.json()["reference"])
    assert ticket.assignee_id in {a.pk for a in agents}
    assert AgentLoad.objects.get(agent_id=ticket.assignee_id).open_tickets == 1
