"""Every staff read of personal data is audited, so one search answers "what did X read"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from testsupport import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(make_customer, make_staff):
    from chat import services as chat_services
    from tickets.defaults import ensure_calendar, ensure_policies
    from tickets.services.tickets import ticket_open

    ensure_policies(ensure_calendar())
    customer = make_customer()
    ticket = ticket_open(
        actor=customer,
        organisation=customer.organisation,
        requester=customer,
        subject="Pores in the seam",
        body="Every seam shows pores.",
    )
    conversation = chat_services.conversation_open(customer=customer)
    return customer, ticket, conversation


def test_staff_reads_are_audited_and_found_in_one_search(client, make_staff, records):
    customer, ticket, conversation = records
    # A superuser: the chat console shows other queues' chats only to them.
    supervisor = make_staff(
        roles=("supervisor",), email="reader@welddesk.example", is_superuser=True
    )
    sign_in(client, supervisor)
    pages = {
        "ticket.viewed": reverse("admin:tickets_ticket_change", args=[ticket.pk]),
        "user.viewed": reverse("admin:accounts_user_change", args=[customer.pk]),
        "organisation.viewed": reverse(
            "admin:accounts_organisation_change", args=[customer.organisation_id]
        ),
        "conversation.viewed": reverse("admin:chat_conversation_change", args=[conversation.pk]),
    }
    for url in pages.values():
        assert client.get(url).status_code == 200, url
    reads = AuditEvent.objects.filter(actor_ref=f"user:{supervisor.pk}", action__endswith=".viewed")
    assert sorted(reads.values_list("action", flat=True)) == sorted(pages)
    ticket_read = reads.get(action="ticket.viewed")
    assert (ticket_read.target_type, ticket_read.target_id) == ("tickets.ticket", str(ticket.pk))
    assert customer.email not in str(list(reads.values_list("data", flat=True)))

    # The compliance officer's question, as one search in the admin.
    officer = make_staff(roles=("compliance_officer",))
    sign_in(client, officer)
    found = (
        client.get(
            reverse("admin:audit_auditevent_changelist"),
            {"actor": "reader@welddesk.example", "action": "*.viewed"},
        )
        .context["cl"]
        .result_list
    )
    assert sorted(e.action for e in found) == sorted(pages)


def test_a_customer_reading_their_own_ticket_is_not_a_staff_read(client, records):
    customer, ticket, _conversation = records
    sign_in(client, customer)
    assert client.get(reverse("portal:ticket", args=[ticket.reference])).status_code == 200
    assert not AuditEvent.objects.filter(action__endswith=".viewed").exists()


def test_reading_a_ticket_through_the_api_is_audited(client, make_staff, records):
    _customer, ticket, _conversation = records
    agent = make_staff(roles=("supervisor",))
    sign_in(client, agent)
    response = client.get(f"/api/v1/tickets/{ticket.reference}/")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="ticket.viewed", actor_ref=f"user:{agent.pk}")
    assert event.data == {"via": "api"}
