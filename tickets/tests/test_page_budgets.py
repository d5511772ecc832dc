"""A ticket costs the same few queries to show at any length (issue 22, point 2).

The staff ticket page, the customer's ticket page and the API's ticket detail each cost at
most PAGE_BUDGET statements, the read audit and the decryption of every message included, and
the same number with one message as with 200. The budget counts what reaches the database with
deferred audit sealing, the production setting (inline sealing, the embedded SQLite default,
adds the chain head's read and update to each audited read).
"""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import ApiScope
from testsupport import sign_in
from tickets import selectors
from tickets.models import CannedResponse, Message
from tickets.services import tickets as svc
from tickets.tests.test_admin import png

PAGE_BUDGET = 8


def statements(client: Client, url: str, **extra) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **extra)
    assert response.status_code == 200, (url, response.status_code)
    return [query["sql"] for query in captured.captured_queries]


def test_a_ticket_costs_the_same_few_queries_with_1_and_200_messages(
    staff_client, open_ticket, queue_setup, make_customer, settings, tmp_path
):
    from accounts.services.api_keys import api_key_create

    settings.MEDIA_ROOT = tmp_path
    settings.AUDIT_SEALING = "deferred"
    agent_client, _agent = staff_client(roles=("agent",), full_name="Lin Agent")
    supervisor, agents = queue_setup[1], queue_setup[2]
    customer = make_customer()
    CannedResponse.objects.create(title="Thanks", body_en="Thanks {requester_name}")
    ticket = open_ticket(
        customer, fault_report={"laser_power_w": 1500}, attachments=[png()], tags=["porosity"]
    )
    _key, token = api_key_create(
        actor=supervisor, organisation=customer.organisation, name="ERP", scope=ApiScope.READ
    )
    portal = sign_in(Client(), customer)
    pages = {
        "staff": (agent_client, reverse("admin:tickets_ticket_change", args=[ticket.pk]), {}),
        "portal": (portal, reverse("portal:ticket", args=[ticket.reference]), {}),
        "api": (
            Client(),
            f"/api/v1/tickets/{ticket.reference}/",
            {"HTTP_AUTHORIZATION": f"Api-Key {token}"},
        ),
    }
    for client, url, extra in pages.values():  # warm: the status banner, canned responses
        client.get(url, **extra)
    short = {name: statements(client, url, **extra) for name, (client, url, extra) in pages.items()}

    for n in range(199):
        svc.ticket_reply(
            ticket=ticket,
            author=customer if n % 3 == 0 else agents[n % 3],
            body=f"Message {n} 焊缝气孔",
            internal=n % 3 == 2,
            attachments=[png(f"photo {n}.png")] if n % 10 == 0 else [],
        )
    assert Message.objects.filter(ticket=ticket).count() == 200
    long = {name: statements(client, url, **extra) for name, (client, url, extra) in pages.items()}

    for name in pages:
        assert len(long[name]) == len(short[name]), (name, long[name])
        assert len(long[name]) <= PAGE_BUDGET, (name, len(long[name]), long[name])


def test_a_long_conversation_opens_at_its_latest_messages_with_a_way_back(
    staff_client, open_ticket, queue_setup, make_customer
):
    from accounts.services.api_keys import api_key_create

    window = selectors.CONVERSATION_WINDOW
    agent_client, _agent = staff_client(roles=("agent",), full_name="Lin Agent")
    supervisor, agents = queue_setup[1], queue_setup[2]
    customer = make_customer()
    ticket = open_ticket(customer, body="Message 0")
    for n in range(1, window + 10):  # 59 more: 60 in all, every third an internal note
        svc.ticket_reply(
            ticket=ticket,
            author=agents[0],
            body=f"Message {n}" + (" (note)" if n % 3 == 0 else ""),
            internal=n % 3 == 0,
        )
    staff_page = reverse("admin:tickets_ticket_change", args=[ticket.pk])

    latest = agent_client.get(staff_page).content.decode()
    assert latest.count('class="msg ') == window
    assert "Message 59" in latest and "Message 9 (note)" not in latest
    assert "?skip=50#conversation" in latest  # "Show earlier messages"
    earlier = agent_client.get(staff_page, {"skip": window}).content.decode()
    assert earlier.count('class="msg ') == 10 and "Message 0" in earlier
    assert "?skip=" not in earlier.replace('href="?#conversation"', "")  # only "later"

    # The customer never sees the 19 notes; the 41 others fit in one window.
    portal = sign_in(Client(), customer)
    page = portal.get(reverse("portal:ticket", args=[ticket.reference])).content.decode()
    assert "(note)" not in page and "Message 0" in page and "Message 59" in page
    assert page.count('class="message ') == 41 and "?skip=" not in page

    _key, token = api_key_create(
        actor=supervisor, organisation=customer.organisation, name="ERP", scope=ApiScope.READ
    )
    api = Client(HTTP_AUTHORIZATION=f"Api-Key {token}")
    body = api.get(f"/api/v1/tickets/{ticket.reference}/").json()
    assert len(body["messages"]) == 41 and body["earlier_messages"] is False
    assert api.get(f"/api/v1/tickets/{ticket.reference}/", {"skip": "x"}).status_code == 400
    assert api.get(f"/api/v1/tickets/{ticket.reference}/", {"skip": "-1"}).status_code == 400


def test_a_malformed_skip_is_refused_on_the_pages_as_in_the_api(staff_client, open_ticket):
    """A hand-edited ?skip= is a 400 page that says why, not the latest messages in its place."""
    agent_client, _agent = staff_client(roles=("agent",), full_name="Lin Agent")
    customer_ticket = open_ticket()
    portal = sign_in(Client(), customer_ticket.requester)
    pages = [
        (agent_client, reverse("admin:tickets_ticket_change", args=[customer_ticket.pk])),
        (portal, reverse("portal:ticket", args=[customer_ticket.reference])),
    ]
    for client, url in pages:
        for bad in ("x", "-1", "12345678", "5e3"):
            response = client.get(url, {"skip": bad})
            assert response.status_code == 400, (url, bad)
            assert "This link to earlier messages is not valid." in response.content.decode()
        assert client.get(url, {"skip": "0"}).status_code == 200


def test_a_canned_response_saved_is_offered_on_the_next_page(
    staff_client, open_ticket, django_capture_on_commit_callbacks
):
    client, _agent = staff_client(roles=("agent",), full_name="Lin Agent")
    ticket = open_ticket()
    url = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    with django_capture_on_commit_callbacks(execute=True):
        CannedResponse.objects.create(title="Gas check", body_en="Check the argon flow.")
    assert "Gas check" in client.get(url).content.decode()  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        CannedResponse.objects.create(title="Nozzle swap", body_en="Swap the nozzle.")
    assert "Nozzle swap" in client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        CannedResponse.objects.filter(title="Gas check").get().delete()
    assert "Gas check" not in client.get(url).content.decode()


def test_the_ticket_page_skips_the_admin_navigation_column(staff_client, open_ticket, rf):
    """The column's app list was 7 % of the page's CPU; the page has the full width instead,
    and its context keeps every key the admin's other pages get."""
    from django.contrib import admin

    from tickets.admin_workspace import full_width_context

    client, agent = staff_client(roles=("agent",), full_name="Lin Agent")
    ticket = open_ticket()
    page = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert page.status_code == 200
    assert 'id="nav-sidebar"' not in page.content.decode()
    assert page.context["available_apps"] == []
    other = client.get(reverse("admin:tickets_cannedresponse_changelist"))
    assert other.status_code == 200 and 'id="nav-sidebar"' in other.content.decode()

    request = rf.get("/admin/")
    request.user = agent
    assert full_width_context(admin.site, request).keys() == admin.site.each_context(request).keys()


def test_a_messages_channel_reads_as_djangos_display_in_each_language(open_ticket):
    from django.utils import translation

    from tickets.models import Channel

    message = open_ticket().messages.first()
    for channel in Channel:
        message.channel = channel.value
        for language in ("en", "zh-hans"):
            with translation.override(language):
                assert message.channel_label == message.get_channel_display()
    message.channel = "telex"  # retired from the choices: shown as stored
    assert message.channel_label == "telex"
