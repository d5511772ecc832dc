"""A ticket, its audit events and its outbox rows are one transaction (checklist 43)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction

from audit.models import AuditEvent
from notifications.models import Outbox
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_an_exception_after_the_ticket_save_leaves_no_ticket_no_outbox_row_and_no_mail(
    open_ticket, make_customer, django_capture_on_commit_callbacks
):
    customer = make_customer()
    audited_before = AuditEvent.objects.count()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        ticket = open_ticket(customer)
        assert Outbox.objects.filter(about_id=str(ticket.pk)).exists()  # written with it
        raise RuntimeError("a rule checked after the save failed")
    assert callbacks == []  # nothing was handed to the broker
    assert not Ticket.objects.exists()
    assert not Outbox.objects.exists()
    assert AuditEvent.objects.count() == audited_before
    assert mail.outbox == []
