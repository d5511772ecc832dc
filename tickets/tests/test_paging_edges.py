"""Hand-typed and edge-case paging of the ticket lists: a clear 4xx or an honest page, never a
500, and a list never cut short by an estimated count (a review of issue 22's paging)."""

from __future__ import annotations

import pytest
from django.core.exceptions import BadRequest
from django.db import connection
from django.test import Client

from core.views import bad_request
from testsupport import sign_in
from tickets.search import RankedPaginator

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"


def test_a_huge_page_number_of_a_search_is_a_404_not_a_500(client, open_ticket, make_customer):
    customer = make_customer()
    open_ticket(customer, subject="Porosity again", body="焊缝气孔")
    sign_in(client, customer)
    assert client.get("/api/v1/tickets/", {"q": "气孔"}).json()["count"] == 1
    for page in (HUGE, "999999999999999999", "2"):
        assert client.get("/api/v1/tickets/", {"q": "气孔", "page": page}).status_code == 404
    portal = client.get("/portal/tickets/", {"q": "气孔", "state": "all", "page": HUGE})
    assert portal.status_code == 200


def test_an_agents_huge_page_number_is_answered_not_a_500(staff_client, open_ticket, make_staff):
    open_ticket(subject="Porosity again", body="焊缝气孔")
    client, _agent = staff_client()
    response = client.get("/admin/tickets/ticket/", {"q": "气孔", "p": HUGE})
    assert response.status_code in (200, 302)  # the list or the admin's ?e=1; it was a 500


def test_an_agent_without_a_region_searches_and_finds_nothing(client, open_ticket, make_staff):
    open_ticket(subject="Porosity again", body="焊缝气孔")
    sign_in(client, make_staff(regions=()))
    api = client.get("/api/v1/tickets/", {"q": "气孔"})
    assert api.status_code == 200 and api.json()["count"] == 0
    admin = client.get("/admin/tickets/ticket/", {"q": "气孔"})
    assert admin.status_code == 200 and admin.context["cl"].result_count == 0


def test_a_digit_that_is_not_ascii_in_skip_is_refused_not_a_500(
    staff_client, open_ticket, make_customer
):
    customer = make_customer()
    ticket = open_ticket(customer)
    portal = sign_in(Client(), customer)
    assert portal.get(f"/portal/tickets/{ticket.reference}/", {"skip": "²"}).status_code == 400
    assert portal.get(f"/api/v1/tickets/{ticket.reference}/", {"skip": "٣"}).status_code == 400
    agent, _user = staff_client()
    assert agent.get(f"/admin/tickets/ticket/{ticket.pk}/change/", {"skip": "²"}).status_code == 400


def test_djangos_own_refusals_keep_the_bare_page(rf):
    """Only the desk's own LinkNotValid shows its message on the desk's page."""
    response = bad_request(rf.get("/portal/"), BadRequest("Encoding of the body is wrong"))
    assert response.status_code == 400
    assert b"Encoding of the body is wrong" not in response.content


@pytest.fixture
def six_tickets_analyzed_at_three(open_ticket, make_customer):
    """A customer with six tickets whose table statistics say three (ANALYZE after three)."""
    if connection.vendor != "postgresql":
        pytest.skip("the planner's estimate is PostgreSQL's")
    customer = make_customer()
    for _ in range(3):
        open_ticket(customer)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tickets_ticket")
    for _ in range(3):
        open_ticket(customer)
    return customer


def test_the_api_and_portal_counts_stay_exact_whatever_the_table_size(
    client, six_tickets_analyzed_at_three, monkeypatch
):
    monkeypatch.setattr(RankedPaginator, "estimate_above", 0)
    sign_in(client, six_tickets_analyzed_at_three)
    seen, page = [], 1
    while page:
        body = client.get("/api/v1/tickets/", {"page_size": 2, "page": page}).json()
        assert body["count"] == 6
        seen += [t["reference"] for t in body["results"]]
        page = page + 1 if body["next"] else None
    assert len(set(seen)) == 6
    assert client.get("/portal/tickets/", {"state": "all"}).context["page"].paginator.count == 6


def test_an_estimated_count_never_stops_the_agents_pages_short(
    staff_client, six_tickets_analyzed_at_three, monkeypatch, settings
):
    monkeypatch.setattr(RankedPaginator, "estimate_above", 0)
    client, _agent = staff_client(roles=("supervisor",), is_superuser=True)
    from tickets.admin import TicketAdmin

    monkeypatch.setattr(TicketAdmin, "list_per_page", 2)
    first = client.get("/admin/tickets/ticket/")
    cl = first.context["cl"]
    assert cl.paginator.estimated
    shown = {t.pk for t in cl.result_list}
    for page in range(2, 6):  # beyond whatever the planner guessed: served, never refused
        response = client.get("/admin/tickets/ticket/", {"p": page})
        assert response.status_code == 200, page
        shown |= {t.pk for t in response.context["cl"].result_list}
    assert len(shown) == 6
