"""The customer's chat page without JavaScript: start, write, callback, ticket, rating."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat.models import ChatMessage, Conversation, ConversationStatus
from testsupport import sign_in
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


# A bot message's links in the page without JavaScript: the list under the message.
LINK = re.compile(
    r'<li><a href="([^"]*)" target="_blank" rel="noopener" data-kind="(\w+)">([^<]*)</a></li>'
)


def bot_links(page: str) -> list[tuple[str, str, str]]:
    """(url, kind, text) of every link listed under a message of the chat page."""
    return LINK.findall(page)


def test_the_bots_ticket_and_shipment_answers_link_their_pages_without_javascript(
    portal, customer, make_unit, open_ticket, make_shipment
):
    """The ticket and shipment answers name the reference and the tracking number in the text
    and link their pages under it (server-rendered), with no bare path in the text."""
    unit = make_unit(customer.organisation)
    ticket = open_ticket(customer, unit=unit)
    shipment = make_shipment(customer.organisation, tickets=[ticket], hours_ago=2)
    url = reverse("portal:chat")
    portal.post(url, {"action": "start", "unit": unit.pk})
    portal.post(url, {"action": "send", "body": f"What is the status of {ticket.reference}?"})
    portal.post(url, {"action": "send", "body": f"Where is my parcel {shipment.tracking_number}?"})
    page = portal.get(url).content.decode()
    assert bot_links(page) == [
        (f"/portal/tickets/{ticket.reference}/", "tickets", f"View ticket {ticket.reference}"),
        (
            f"/portal/shipments/{shipment.pk}/",
            "shipments",
            f"Track shipment {shipment.tracking_number}",
        ),
    ]
    texts = re.findall(r'<span class="text">(.*?)</span>', page, re.S)
    assert any(ticket.reference in t and ticket.subject in t for t in texts)
    assert any(shipment.tracking_number in t for t in texts)
    assert not [t for t in texts if "/portal/" in t]  # the links carry the paths


def test_suggested_articles_are_named_once_as_links_in_chinese(
    client, make_customer, make_unit, queue_setup
):
    """An articles answer says one line and lists each title once, as a link (no bullets of the
    same titles in its text)."""
    from knowledge.services import article_create

    customer = make_customer(language="zh-hans")
    titles = ["焊缝气孔：先检查保护气", "焊缝气孔：清洁喷嘴和保护镜片"]
    for title in titles:
        article_create(
            actor=queue_setup[1],
            title=title,
            body="焊缝出现气孔通常是保护气覆盖不良。请检查气体流量和喷嘴。",
            language="zh-hans",
            is_published=True,
        )
    portal = sign_in(client, customer)
    url = reverse("portal:chat")
    portal.post(url, {"action": "start", "unit": make_unit(customer.organisation).pk})
    portal.post(url, {"action": "send", "body": "焊缝有气孔"})
    page = portal.get(url).content.decode()
    assert sorted(text for _url, kind, text in bot_links(page) if kind == "articles") == titles
    assert all(page.count(title) == 1 for title in titles), page
    assert "这些帮助文章也许能马上解决问题：" in page


def test_only_paths_on_this_site_become_links(portal, customer, make_unit):
    """A payload's link that leads off the site (another host, a script) is not shown."""
    from chat import services

    conversation = services.conversation_open(
        customer=customer, unit=make_unit(customer.organisation)
    )
    services.message_post(
        conversation=conversation,
        sender=None,
        body="Here is where your tickets stand:",
        client_id="bot-1",
        is_bot=True,
        payload={
            "tickets": [
                {"reference": "WD-1", "url": "//evil.example/"},
                {"reference": "WD-2", "url": "/\\evil.example/"},
                {"reference": "WD-3", "url": "/\t/evil.example/"},
                {"reference": "WD-4", "url": "https://evil.example/"},
                {"reference": "WD-5", "url": "/portal/tickets/WD-5/"},
            ],
            "articles": [{"title": "<b>x</b>", "url": "javascript:alert(1)"}],
            "shipments": "not a list",
        },
    )
    page = portal.get(reverse("portal:chat")).content.decode()
    assert bot_links(page) == [("/portal/tickets/WD-5/", "tickets", "View ticket WD-5")]
    assert "evil.example" not in page and "javascript:" not in page
