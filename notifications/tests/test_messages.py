"""The one path from a message and a person to deliveries (`notifications.messages`)."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.utils.translation import gettext

from notifications.messages import Message, Recipient, notify, recipient_of
from notifications.models import Outbox, PushSubscription

pytestmark = pytest.mark.django_db


def message(key: str = "ticket-reply:7", **fields) -> Message:
    fields.setdefault("context", {"ticket": {"reference": "T-1", "subject": "Pores"}})
    return Message(template="ticket_reply", key=key, **fields)


def person(make_customer, **fields):
    """A customer with these profile fields (the notification preferences among them)."""
    customer = make_customer()
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.save()
    return customer


def browser(user, n: int = 1) -> PushSubscription:
    return PushSubscription.objects.create(
        user=user, endpoint=f"https://push.example/{n}", endpoint_hash=f"h{n}", p256dh="k", auth="a"
    )


def test_a_customer_is_told_by_every_channel_they_chose_keyed_per_channel(make_customer):
    customer = person(
        make_customer,
        notify_sms=True,
        phone="+86 138 0013 8000",
        notify_wecom=True,
        wecom_id="li.na",
        notify_webhook_url="https://hooks.factory.example/in",
    )
    first, second = browser(customer, 1), browser(customer, 2)
    ids = notify(to=customer, message=message(url="https://desk.example/t/1", tag="ticket-1"))
    rows = {row.key: row for row in Outbox.objects.filter(pk__in=ids)}
    assert set(rows) == {
        "ticket-reply:7:email",
        "ticket-reply:7:sms",
        "ticket-reply:7:wecom",
        f"ticket-reply:7:push:{first.pk}",
        f"ticket-reply:7:push:{second.pk}",
        "ticket-reply:7:webhook",
    }
    push = json.loads(rows[f"ticket-reply:7:push:{first.pk}"].body)
    assert push["url"] == "https://desk.example/t/1" and push["tag"] == "ticket-1"
    assert push["title"] == rows["ticket-reply:7:email"].subject  # no short text: the subject
    hook = json.loads(rows["ticket-reply:7:webhook"].body)
    assert hook["type"] == "ticket_reply" and hook["key"] == "ticket-reply:7"
    assert notify(to=customer, message=message()) == []  # the same key again: nothing new


def test_the_short_text_is_composed_in_the_recipients_language(make_customer):
    customer = person(make_customer, language="zh-hans", notify_sms=True, phone="+86 138 0013 8000")

    def context(language: str) -> dict:
        return {"ticket": {"reference": "T-1"}, "short": f"{language}: {gettext('Email')}"}

    notify(to=customer, message=message(context=context))
    sms = Outbox.objects.get(channel="sms")
    assert sms.body == "zh-hans: 邮件" and sms.language == "zh-hans"


def test_a_customer_who_chose_nothing_gets_nothing(make_customer):
    customer = person(
        make_customer, notify_email=False, phone="+86 138 0013 8000", wecom_id="li.na"
    )
    assert notify(to=customer, message=message()) == []
    assert not Outbox.objects.exists()


def test_staff_get_e_mail_and_an_sms_only_when_urgent(make_staff):
    agent = make_staff(email="agent@welddesk.example")
    agent.phone = "+86 138 0000 0001"
    agent.save()
    notify(to=agent, message=message("calm"))
    notify(to=agent, message=message("urgent", urgent=True))
    assert sorted(Outbox.objects.values_list("key", flat=True)) == [
        "calm:email",
        "urgent:email",
        "urgent:sms",
    ]


def test_a_recipient_without_an_account_and_a_narrowed_message():
    someone = Recipient(language="en", email="plant@example.com", phone="+86 138 0013 8000")
    notify(to=someone, message=message("confirm", channels=frozenset({"email"})))
    assert list(Outbox.objects.values_list("key", "recipient")) == [
        ("confirm:email", "plant@example.com")
    ]


def test_an_inactive_account_is_told_nothing(make_customer):
    customer = make_customer()
    customer.is_active = False
    assert recipient_of(customer) is None
    assert notify(to=customer, message=message()) == []


def test_a_message_may_carry_threading_headers_and_nothing_else(
    make_customer, django_capture_on_commit_callbacks
):
    customer = make_customer()
    with django_capture_on_commit_callbacks(execute=True):
        notify(
            to=customer,
            message=message(
                headers={
                    "In-Reply-To": "<abc@welddesk.example>",
                    "References": "<root@welddesk.example>\r\nBcc: attacker@evil.example",
                    "Bcc": "attacker@evil.example",
                }
            ),
        )
    (sent,) = mail.outbox
    mime = sent.message()
    assert mime["In-Reply-To"] == "<abc@welddesk.example>"
    assert "\n" not in mime["References"].replace("\n ", "").replace("\n\t", "")
    assert mime["Bcc"] is None and "attacker@evil.example" not in sent.recipients()
    assert mime["Message-ID"]  # chosen when the row was written


def test_a_persons_export_and_erasure_cover_their_browsers_and_webhook(make_customer):
    """Ticket answers now reach browsers and webhooks too: a data-subject export lists those
    rows and an erasure deletes them, like the e-mails and texts."""
    from notifications import selectors, services

    customer = person(make_customer, notify_webhook_url="https://hooks.factory.example/in")
    browser(customer)
    other = person(make_customer, notify_webhook_url="https://hooks.other.example/in")
    browser(other, 2)
    for who in (customer, other):
        notify(to=who, message=message(f"ticket-reply:{who.pk}"))
    exported = selectors.person_notifications(customer)
    assert sorted(n["channel"] for n in exported) == ["email", "push", "webhook"]

    class Marks:
        def found_in(self, text):
            return bool(text) and customer.email in text

    services.notifications_erase_person(user=customer, marks=Marks(), actor="system:test")
    left = set(Outbox.objects.values_list("key", flat=True))
    assert all(key.startswith(f"ticket-reply:{other.pk}:") for key in left) and len(left) == 3
