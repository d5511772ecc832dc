"""An HTML payload in a ticket body or subject is inert wherever it is shown (the text is kept
as the customer typed it and escaped on output), and the CSP forbids inline script anyway."""

from __future__ import annotations

import pytest
from django.urls import reverse

from testsupport import sign_in

pytestmark = pytest.mark.django_db

PAYLOAD = "<img src=x onerror=alert(1)>"


def _inert(page: str) -> None:
    assert PAYLOAD not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def _csp_forbids_inline_script(response) -> None:
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_an_img_onerror_payload_is_inert_in_the_portal_and_the_workspace(
    client, open_ticket, make_customer, queue_setup
):
    customer = make_customer()
    ticket = open_ticket(customer, subject=f"Seam {PAYLOAD}", body=f"Look: {PAYLOAD}")
    ticket.refresh_from_db()
    assert ticket.subject == f"Seam {PAYLOAD}"  # stored as typed: it is text, not markup
    sign_in(client, customer)
    for url in (reverse("portal:ticket", args=[ticket.reference]), reverse("portal:tickets")):
        response = client.get(url)
        assert response.status_code == 200
        _inert(response.content.decode())
        _csp_forbids_inline_script(response)
    sign_in(client, queue_setup[1])  # the supervisor
    for url in (
        reverse("admin:tickets_ticket_change", args=[ticket.pk]),
        reverse("admin:tickets_ticket_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        _inert(response.content.decode())
        _csp_forbids_inline_script(response)


def test_the_api_returns_the_payload_as_json_text_never_as_html(client, open_ticket, make_customer):
    customer = make_customer()
    ticket = open_ticket(customer, body=PAYLOAD)
    sign_in(client, customer)
    response = client.get(f"/api/v1/tickets/{ticket.reference}/")
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.json()["messages"][0]["body"] == PAYLOAD
