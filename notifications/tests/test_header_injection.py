"""CR/LF in a customer's name or a ticket's subject cannot add e-mail headers: a ticket opened
end to end, every mail it sends checked."""

from __future__ import annotations

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db

EVIL = "\r\nBcc: attacker@evil.example\r\nX-Injected: 1\nReply-To: attacker@evil.example"


def test_crlf_in_the_name_and_subject_adds_no_header_to_any_mail(
    make_customer, make_org, django_capture_on_commit_callbacks
):
    from tickets.services.tickets import ticket_open

    customer = make_customer(full_name="Wang Jianguo" + EVIL)
    with django_capture_on_commit_callbacks(execute=True):
        ticket_open(
            actor=customer,
            organisation=customer.organisation,
            requester=customer,
            subject="Seam porosity" + EVIL,
            body="Pores since this morning.",
        )
    assert mail.outbox, "the opening sends the customer a mail"
    for sent in mail.outbox:
        message = sent.message()
        assert message["Bcc"] is None and message["X-Injected"] is None
        assert message["Reply-To"] is None
        assert "\n" not in sent.subject and "\r" not in sent.subject
        assert all("evil.example" not in r for r in sent.recipients())
        for name, value in message.items():
            assert "\n" not in value.replace("\n ", "").replace("\n\t", ""), name
