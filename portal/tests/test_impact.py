"""The fault form asks how bad it is; the ticket page says when the first answer is due; a
published incident in the customer's region is shown above the form (issue 19, points 6, 7)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications.models import Outbox
from status import services as status_services
from status.models import Severity
from status.selectors import forget_summary
from testsupport import sign_in
from tickets.models import Status, Ticket
from tickets.services import tickets as svc

pytestmark = pytest.mark.django_db

NEW = reverse("portal:ticket_new")


def report(unit, **answers) -> dict:
    return {
        "unit": unit.pk,
        "subject": "E101 laser over-temperature",
        "body": "E101 on the display, welding stopped on line 2.",
        "production": "stopped",
        "machines_affected": "1",
        "safety_risk": "no",
        **answers,
    }


def radios(page: str, name: str) -> list[str]:
    return re.findall(rf'<input type="radio" name="{name}" value="([^"]+)"', page)


@pytest.fixture
def unit(customer, make_unit, sla_setup, queue_setup):
    return make_unit(customer.organisation)


# ------------------------------------------------------------------------ the form


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Report a fault"), ("zh-hans", "报告故障")]
)
def test_the_form_asks_how_bad_it_is_with_one_tap_answers(
    client, make_customer, make_unit, language, heading
):
    customer = make_customer(language=language)
    make_unit(customer.organisation)
    page = sign_in(client, customer).get(NEW).content.decode()
    assert f'lang="{language}"' in page and heading in page
    assert radios(page, "production") == ["stopped", "degraded", "unaffected"]
    assert radios(page, "safety_risk") == ["yes", "no"]
    assert 'name="machines_affected"' in page and 'value="1"' in page
    # The impact questions come before the fault code and the description.
    assert page.index('name="production"') < page.index('name="fault_code"')
    assert page.index('name="safety_risk"') < page.index('name="subject"')


def test_production_stopped_is_filed_as_p1(portal, unit):
    response = portal.post(NEW, report(unit))
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert ticket.priority == 1
    assert ticket.fault_report.production == "stopped"
    assert ticket.fault_report.machines_affected == 1
    assert ticket.fault_report.safety_risk is False
    page = portal.get(response["Location"]).content.decode()
    assert "P1" in page and "Slowed" not in page


@pytest.mark.parametrize(("production", "priority"), [("degraded", 2), ("unaffected", 3)])
def test_the_other_answers_follow_their_rules(portal, unit, production, priority):
    assert portal.post(NEW, report(unit, production=production)).status_code == 302
    assert Ticket.objects.get().priority == priority


def test_a_safety_risk_is_p1_and_the_queue_supervisor_gets_a_notice(portal, unit, queue_setup):
    supervisor = queue_setup[1]
    response = portal.post(NEW, report(unit, production="unaffected", safety_risk="yes"))
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert ticket.priority == 1 and ticket.fault_report.safety_risk is True
    notice = Outbox.objects.get(key=f"ticket-safety:{ticket.pk}:{supervisor.pk}:email")
    assert notice.recipient == supervisor.email and ticket.reference in notice.subject


def test_unanswered_or_bad_impact_answers_are_field_errors(portal, unit):
    response = portal.post(NEW, report(unit, production="", safety_risk="", machines_affected="0"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Tell us whether your production is stopped." in page
    assert "Tell us whether anyone is in danger." in page
    assert 'id="id_production" aria-describedby="id_production_error0"' in " ".join(page.split())
    assert 'id="id_machines_affected_error0"' in page
    response = portal.post(NEW, report(unit, production="exploded", machines_affected="5000"))
    assert response.status_code == 400
    assert not Ticket.objects.exists()


# ------------------------------------------------------------------ first answer due


def test_the_ticket_page_says_when_the_first_answer_is_due_in_the_customers_zone(
    client, make_customer, make_unit, sla_setup, queue_setup
):
    customer = make_customer(language="zh-hans", timezone="Asia/Urumqi")
    unit = make_unit(customer.organisation)
    sign_in(client, customer)
    ticket = svc.ticket_open(
        actor=customer,
        organisation=customer.organisation,
        requester=customer,
        unit=unit,
        subject="Chiller alarm",
        body="The chiller alarms every hour.",
        fault_report={"production": "stopped"},
    )
    page = client.get(reverse("portal:ticket", args=[ticket.reference])).content.decode()
    due = timezone.localtime(ticket.first_response_due, dt.timezone(dt.timedelta(hours=6)))
    assert 'id="first-answer-due"' in page
    assert f"{due:%Y-%m-%d %H:%M} +06" in page
    assert "was due" not in page


def test_the_first_answer_due_goes_when_it_is_met_or_paused_and_says_when_late(
    portal, customer, open_ticket, queue_setup
):
    agent = queue_setup[2][0]
    ticket = open_ticket(customer)
    url = reverse("portal:ticket", args=[ticket.reference])
    Ticket.objects.filter(pk=ticket.pk).update(
        first_response_due=timezone.now() - dt.timedelta(minutes=5)
    )
    page = portal.get(url).content.decode()
    assert "Our first answer was due by" in page and "sorry for the wait" in page
    svc.ticket_transition(ticket=ticket, status=Status.WAITING, actor=agent)
    assert 'id="first-answer-due"' not in portal.get(url).content.decode()
    svc.ticket_transition(ticket=ticket, status=Status.OPEN, actor=agent)
    assert 'id="first-answer-due"' in portal.get(url).content.decode()
    svc.ticket_reply(ticket=ticket, author=agent, body="We are on it.")
    assert 'id="first-answer-due"' not in portal.get(url).content.decode()


# ------------------------------------------------------------------ incidents (point 7)


@pytest.fixture
def incident(components, queue_setup):
    """Publish an incident of the given components (keys of the status app's fixture)."""
    supervisor = queue_setup[1]
    severity = Severity.objects.order_by("rank").first()
    forget_summary()

    def make(*keys: str, title: str = "Hotline East down", recovery=None):
        opened = status_services.incident_open(
            actor=supervisor,
            severity=severity,
            title_en=title,
            title_zh="华东热线中断",
            components={components[k]: "major_outage" for k in keys},
            body_en="The East hotline does not answer; use the portal or chat.",
            body_zh="华东热线无法接通，请使用门户或在线客服。",
            expected_recovery=recovery,
        )
        forget_summary()
        return opened

    yield make
    forget_summary()


def test_a_published_incident_in_the_customers_region_is_shown_above_the_form(
    portal, unit, incident
):
    recovery = timezone.now() + dt.timedelta(hours=2)
    opened = incident("east", recovery=recovery)
    page = portal.get(NEW).content.decode()
    block = page[page.index('class="known-incidents') : page.index('id="fault-report"')]
    assert "Hotline East down" in block
    assert opened.get_state_display() in block
    assert f"{timezone.localtime(recovery):%Y-%m-%d %H:%M}" in block
    assert reverse("status:incident", args=[opened.pk]) in block
    # Said once: the page's own banner for the same incident is left out.
    assert page.count("Hotline East down") == 1


def test_an_incident_of_another_region_is_not_shown_but_a_nationwide_one_is(portal, unit, incident):
    incident("south", title="Hotline South down")
    page = portal.get(NEW).content.decode()
    assert "known-incidents" not in page and "Hotline South down" not in page
    incident("chat", title="Chat is slow")
    page = portal.get(NEW).content.decode()
    assert "known-incidents" in page and "Chat is slow" in page
    assert "Expected recovery: not known yet" in page


def test_the_fault_form_costs_the_same_queries_with_one_incident_or_many(
    portal, unit, incident, settings
):
    def count() -> int:
        forget_summary()
        portal.get(NEW)  # warm the summary (built once, then cached)
        with CaptureQueriesContext(connection) as captured:
            assert portal.get(NEW).status_code == 200
        return len(captured)

    incident("east")
    one = count()
    for n in range(12):
        incident("east" if n % 2 else "chat", title=f"Incident {n}")
    assert count() == one
