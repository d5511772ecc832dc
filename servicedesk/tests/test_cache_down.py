"""Redis down (cache and channel layer unreachable): the desk keeps working, never a 500.

Sessions live in the database, so nobody is signed out; throttles that count in the cache let
requests through while the lockout of passwords (database) keeps counting; the status page
builds its summary from the database; erasure completes; the chat page loads and its socket
is refused at once, so the page shows its reconnecting state instead of hanging.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from compliance.tests.test_erasure import person  # noqa: F401
from testsupport import PASSWORD, add_totp, current_code, free_port, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings):
    """Point the cache and the channel layer at a port where nothing listens."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "wd",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "servicedesk.channel_layers.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": "wddown:asgi"},
        }
    }
    from django.core.cache import cache

    with pytest.raises(Exception):  # noqa: B017 - any error: the cache really is down
        cache.get("probe")
    return url


def test_the_status_page_and_its_json_answer_from_the_database(client, redis_down):
    from status.models import Component, ComponentGroup

    group = ComponentGroup.objects.create(key="lines", name_en="Lines", name_zh="线路")
    Component.objects.create(group=group, key="chat", name_en="Online chat", name_zh="在线客服")
    page = client.get(reverse("status:page"))
    assert page.status_code == 200 and "Online chat" in page.content.decode()
    assert client.get(reverse("status:summary")).status_code == 200


def test_an_incident_opened_while_the_cache_is_down_shows_at_once(
    client, redis_down, django_capture_on_commit_callbacks
):
    """Dropping the cached summary after commit fails quietly instead of failing the
    request that opened the incident (and the page shows the incident)."""
    from status import services
    from status.models import Component, ComponentGroup, Severity

    group = ComponentGroup.objects.create(key="lines", name_en="Lines", name_zh="线路")
    chat = Component.objects.create(group=group, key="chat", name_en="Online chat", name_zh="客服")
    with django_capture_on_commit_callbacks(execute=True):
        services.incident_open(
            actor="system:alertmanager",
            severity=Severity.objects.get(key="sev2"),
            title_en="Chat unreachable",
            title_zh="在线客服无法使用",
            components={chat: "major_outage"},
            body_en="Use the portal meanwhile.",
            body_zh="请使用客户门户。",
        )
    assert "Chat unreachable" in client.get(reverse("status:page")).content.decode()


def test_a_customer_signs_in_and_uses_the_portal(client, redis_down, make_customer):
    customer = make_customer()
    response = client.post(
        reverse("accounts:login"), {"email": customer.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    for name in (
        "portal:home",
        "portal:tickets",
        "portal:machines",
        "portal:profile",
        "portal:chat",
    ):
        page = client.get(reverse(name))
        assert page.status_code == 200, (name, page.status_code)
        assert page.wsgi_request.user == customer  # still signed in (database sessions)


def test_an_agent_signs_in_with_the_second_factor(client, redis_down, make_staff):
    agent = make_staff()
    device = add_totp(agent)
    response = client.post(reverse("accounts:login"), {"email": agent.email, "password": PASSWORD})
    assert response.status_code == 302
    verified = client.post("/accounts/2fa/verify/", {"token": current_code(device)})
    assert verified.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_password_lockout_keeps_counting_in_the_database(
    client, redis_down, make_customer, settings
):
    """Killing Redis does not lift the lock on password guessing."""
    customer = make_customer()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"email": customer.email, "password": "wrong guess"})
    locked = client.post(reverse("accounts:login"), {"email": customer.email, "password": PASSWORD})
    assert locked.status_code == 400
    assert "sessionid" not in locked.cookies


def test_throttles_counted_in_the_cache_let_requests_through(
    client, redis_down, make_customer, make_staff, django_capture_on_commit_callbacks
):
    """The password-reset mail, a status subscription and API calls with a key all go through
    (the counters are unavailable, not exceeded)."""
    customer = make_customer()
    with django_capture_on_commit_callbacks(execute=True):
        reset = client.post(reverse("accounts:password_reset"), {"email": customer.email})
    assert reset.status_code == 302 and len(mail.outbox) == 1
    subscribe = client.post(reverse("status:subscribe"), {"email": "ops@factory.example"})
    assert subscribe.status_code in (200, 302)

    from accounts.models import ApiScope
    from accounts.services.api_keys import api_key_create

    supervisor = make_staff(roles=("supervisor",))
    _key, token = api_key_create(
        actor=supervisor, organisation=customer.organisation, name="ERP", scope=ApiScope.READ
    )
    for _ in range(3):
        listed = client.get("/api/v1/tickets/", HTTP_AUTHORIZATION=f"Api-Key {token}")
        assert listed.status_code == 200


def test_erasure_is_requested_and_carried_out(client, redis_down, person, make_staff, password):  # noqa: F811
    from django.contrib.admin import helpers

    from compliance.models import ErasureRequest, ErasureStatus

    customer, _ticket, _unit = person
    sign_in(client, customer)
    asked = client.post(reverse("portal:data_export"), {"action": "erase", "password": password})
    assert asked.status_code == 302
    officer = make_staff(roles=("compliance_officer",))
    sign_in(client, officer)
    request = ErasureRequest.objects.get()
    done = client.post(
        reverse("admin:compliance_erasurerequest_changelist"),
        {"action": "approve", helpers.ACTION_CHECKBOX_NAME: [request.pk]},
    )
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == ErasureStatus.DONE
    customer.refresh_from_db()
    assert not customer.is_active and customer.email.endswith("@erased.invalid")


@pytest.mark.django_db(transaction=True)
async def test_a_chat_socket_is_refused_promptly_so_the_page_shows_reconnecting(
    redis_down, make_customer
):
    """The channel layer is unreachable: the socket fails at once (the page's script then
    shows "Reconnecting…" and tries again), never accepted or left hanging."""
    import asyncio

    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.db import connections
    from django.test import Client

    from chat import services as chat_services
    from servicedesk.asgi import application

    customer = await sync_to_async(make_customer)()
    conversation = await sync_to_async(chat_services.conversation_open)(customer=customer)
    client = Client()
    await sync_to_async(sign_in)(client, customer)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}/", headers=headers
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        # The consumer fails at once (no channel without the layer); Daphne then closes the
        # handshake. The communicator itself only reports that after its timeout, so watch
        # the application instead.
        await communicator.send_input({"type": "websocket.connect"})
        while not communicator.future.done() and loop.time() - started < 5:
            await asyncio.sleep(0.05)
        assert communicator.future.done(), "the socket hangs while Redis is down"
        with pytest.raises(Exception, match=r"connecting to 127\.0\.0\.1"):
            communicator.future.result()
    finally:
        await sync_to_async(connections.close_all)()


def test_the_chat_surge_check_runs_without_the_cache_and_calls_nobody_twice(redis_down, settings):
    """The surge check keeps its once-per-period mark in the cache: with the cache down it
    cannot know whether this period's call went out, so it calls nobody (never a crash, never
    a call every minute)."""
    from chat import presence

    settings.CHAT_SURGE_WAITING = 0  # any queue counts as a surge
    assert presence.surge_check() == 0
    assert presence.surge_check() == 0
