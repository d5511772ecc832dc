"""'Next ticket' pressed by several agents at once, on PostgreSQL (row locks, SKIP LOCKED)."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from audit.services.events import actor_ref_for
from tickets import selectors
from tickets.models import Ticket
from tickets.services import next_ticket
from tickets.services import tickets as svc
from tickets.tests.test_concurrency import hold_lock, overlapped, run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

__all__ = ["hold_lock"]  # the fixture: each assignment holds its row lock a little longer


def _take(agent) -> Ticket | None:
    return next_ticket.ticket_take_next(
        agent=agent, candidates=selectors.next_ticket_candidates(agent=agent)
    )


def test_agents_pressing_at_once_never_get_the_same_ticket(
    open_ticket, queue_setup, make_customer, hold_lock
):
    _queue, supervisor, agents = queue_setup
    customer = make_customer()
    tickets = []
    for priority in (1, 2, 3, 4):
        ticket = open_ticket(customer, priority=priority)
        tickets.append(svc.ticket_assign(ticket=ticket, agent=None, actor=supervisor))
    outcomes = run_together([lambda agent=agent: _take(agent) for agent in agents])
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
    assert overlapped(outcomes[0], outcomes[1])
    taken = [o.value.pk for o in outcomes]
    assert len(set(taken)) == 3, taken  # three agents, three different tickets
    # The most urgent three, one each; the fourth is still waiting.
    assert set(taken) == {t.pk for t in tickets[:3]}
    for outcome, agent in zip(outcomes, agents, strict=True):
        assert Ticket.objects.get(pk=outcome.value.pk).assignee_id == agent.pk
    assert Ticket.objects.get(pk=tickets[3].pk).assignee_id is None
    by_agents = AuditEvent.objects.filter(
        action="ticket.assigned", actor_ref__in=[actor_ref_for(a) for a in agents]
    )
    assert sorted(int(e.target_id) for e in by_agents) == sorted(taken)


def test_one_ticket_two_agents_one_gets_it_the_other_none(open_ticket, queue_setup, hold_lock):
    _queue, supervisor, agents = queue_setup
    ticket = svc.ticket_assign(ticket=open_ticket(priority=1), agent=None, actor=supervisor)
    outcomes = run_together([lambda agent=agent: _take(agent) for agent in agents[:2]])
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
    got = [o.value for o in outcomes if o.value is not None]
    assert len(got) == 1 and got[0].pk == ticket.pk
    # Neither waited for the other's lock: the loser skipped the locked row at once.
    loser = next(o for o in outcomes if o.value is None)
    winner = next(o for o in outcomes if o.value is not None)
    assert loser.finished < winner.finished
