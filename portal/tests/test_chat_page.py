"""The customer's chat page without JavaScript: start, write, callback, ticket, rating."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat.models import ChatMessage, Conversation, ConversationStatus
from tickets.models import Kind, Ticket

pytestmark = pytest.mark.django_db


def test_the_chat_works_as_plain_forms(portal, customer, make_unit, queue_setup):
    url = reverse("portal:chat")
    unit = make_unit(customer.organisation)
    assert "Start a chat" in portal.get(url).content.decode()
    assert portal.post(url, {"action": "start", "unit": unit.pk}).status_code == 302
    conversation = Conversation.objects.get(customer=customer)
    assert conversation.unit == unit and conversation.queue == queue_setup[0]
    assert portal.post(url, {"action": "send", "body": "Wire feed jams"}).status_code == 302
    # Nobody is online: the bot answered too.
    assert ChatMessage.objects.filter(conversation=conversation, is_bot=True).count() == 1
    page = portal.get(url).content.decode()
    assert "Wire feed jams" in page and "number 1 in the queue" in page
    bad = portal.post(url, {"action": "callback", "phone": "abc"})
    assert bad.status_code == 400
    assert portal.post(url, {"action": "callback", "phone": "+86 512 6666 8888"}).status_code == 302
    assert Ticket.objects.filter(kind=Kind.CALLBACK, requester=customer).count() == 1
    assert portal.post(url, {"action": "to_ticket"}).status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    page = portal.get(url).content.decode()
    assert "How was the chat?" in page
    assert portal.post(url, {"action": "rate", "rating": "5"}).status_code == 302
    conversation.refresh_from_db()
    assert conversation.rating == 5
    assert "How was the chat?" not in portal.get(url).content.decode()


def test_the_chat_page_keeps_its_query_budget(portal, customer, make_unit, queue_setup):
    from chat import services

    conversation = services.conversation_open(
        customer=customer, unit=make_unit(customer.organisation)
    )
    agent = queue_setup[2][0]
    url = reverse("portal:chat")
    services.message_post(conversation=conversation, sender=customer, body="Hi", client_id="c-0")
    with CaptureQueriesContext(connection) as few:
        assert portal.get(url).status_code == 200
    for n in range(20):
        services.message_post(
            conversation=conversation, sender=agent, body=f"Step {n}", client_id=f"a-{n}"
        )
    with CaptureQueriesContext(connection) as many:
        assert portal.get(url).status_code == 200
    assert len(many) == len(few)


def test_the_chat_launcher_is_on_every_portal_page(portal):
    for name in ("portal:home", "portal:tickets", "portal:machines", "portal:kb"):
        assert 'class="chat-launcher' in portal.get(reverse(name)).content.decode()


def test_the_widget_panel_frames_the_chat_page_alone_and_only_on_this_site(
    portal, customer, make_unit, queue_setup
):
    url = reverse("portal:chat")
    home = portal.get(reverse("portal:home")).content.decode()
    assert f'data-embed="{url}?embed=1"' in home and "portal/widget.js" in home
    framed = portal.get(url + "?embed=1")
    body = framed.content.decode()
    assert framed.status_code == 200
    assert framed["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in framed["Content-Security-Policy"]
    assert 'class="embedded"' in body and "portal-nav" not in body and "Start a chat" in body
    # Forms in the frame stay in the frame: a post comes back to the framed page.
    unit = make_unit(customer.organisation)
    started = portal.post(url + "?embed=1", {"action": "start", "unit": unit.pk})
    assert started.status_code == 302 and started["Location"] == url + "?embed=1"
    # The full page still refuses to be framed.
    page = portal.get(url)
    assert page["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_the_message_box_has_a_visible_label_and_a_paperclip_button(
    portal, customer, make_unit, queue_setup
):
    """The markup the phone layout rests on (the browser test measures it at 390 px)."""
    from chat import services

    services.conversation_open(customer=customer, unit=make_unit(customer.organisation))
    page = portal.get(reverse("portal:chat")).content.decode()
    assert '<label for="chat-body" class="chat-label">' in page  # shown, not visually hidden
    assert 'enterkeyhint="send"' in page and "chat/keys.js" in page
    assert '<button type="button" class="chat-attach js-only" id="chat-attach"' in page
    assert '<input type="file" id="chat-file" hidden' in page  # opened by the paperclip
    # The launcher is in the portal's navigation (a button there on a phone), not floating
    # loose after it.
    home = portal.get(reverse("portal:home")).content.decode()
    nav = home[
        home.index('<nav class="portal-nav"') : home.index("</nav>", home.index("portal-nav"))
    ]
    assert 'id="chat-launcher"' in nav
