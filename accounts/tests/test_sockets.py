"""The one sign-in gate of every WebSocket: TLS, session limits, second factor, live checks."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts import services
from accounts.services.auth import SESSION_AUTH_AT, SESSION_SEEN_AT
from audit.models import AuditEvent
from testsupport import PASSWORD, add_totp, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

IDLE, MAX_AGE = 30 * 60, 12 * 3600


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    """Close the database connection of asgiref's worker thread after each test."""
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


def application():
    from servicedesk.asgi import application as app

    return app


def socket(http: Client | None, path: str, **scope) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    headers += scope.pop("headers", [])
    if http is not None:
        headers.append((b"cookie", f"sessionid={http.cookies['sessionid'].value}".encode()))
    ws = WebsocketCommunicator(application(), path, headers=headers)
    ws.scope.update(scope)  # before the first await: the application reads it then
    return ws


def routes() -> list[str]:
    """A concrete path for every WebSocket route (numbers for the converters)."""
    from servicedesk.routing import websocket_urlpatterns

    return ["/" + re.sub(r"<int:\w+>", "1", str(p.pattern)) for p in websocket_urlpatterns]


async def signed_in(user, **kwargs) -> Client:
    client = Client()
    await sync_to_async(sign_in)(client, user, **kwargs)
    return client


@sync_to_async
def age_session(client: Client, *, idle: int, total: int) -> None:
    session = client.session
    now = int(time.time())
    session[SESSION_AUTH_AT] = now - total
    session[SESSION_SEEN_AT] = now - idle
    session.save()


async def closed_with(ws: WebsocketCommunicator, timeout: float = 5) -> int:
    """Wait for the server to close an open socket; return the close code."""
    while True:
        output = await ws.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output["code"]


async def expiries(reason: str) -> int:
    return await sync_to_async(
        AuditEvent.objects.filter(action="auth.session_expired", data__reason=reason).count
    )()


# --------------------------------------------------------------------------- at the handshake


@pytest.mark.parametrize("path", routes())
async def test_every_socket_route_is_behind_the_gate(path, make_staff):
    """One gate serves every socket: anonymous sockets (4401) and staff without a verified
    second factor (4403) are refused on every route, before any consumer runs."""
    connected, code = await socket(None, path).connect()
    assert (connected, code) == (False, 4401)
    staff = await sync_to_async(make_staff)()
    unverified = await signed_in(staff, verified=False)
    connected, code = await socket(unverified, path).connect()
    assert (connected, code) == (False, 4403)


@pytest.mark.parametrize(
    ("idle", "total", "reason"),
    [(IDLE + 60, IDLE + 60, "idle"), (60, MAX_AGE + 60, "max_age")],
)
@pytest.mark.parametrize("path", routes())
async def test_a_socket_on_an_expired_staff_session_is_refused(
    path, idle, total, reason, make_staff
):
    """Checklist 8 for sockets: a staff session idle for 31 minutes, or 12 hours old, opens no
    socket; the session is ended and the expiry audited, as a page would do."""
    staff = await sync_to_async(make_staff)()
    client = await signed_in(staff)
    await age_session(client, idle=idle, total=total)
    connected, code = await socket(client, path).connect()
    assert (connected, code) == (False, 4401)
    assert await expiries(reason) == 1
    from django.contrib.sessions.models import Session

    key = client.cookies["sessionid"].value
    assert not await sync_to_async(Session.objects.filter(session_key=key).exists)()


async def test_a_customer_who_enrolled_a_second_factor_needs_it_for_sockets(make_customer):
    """Like pages: a customer with a device who passed only the password gets no socket."""
    customer = await sync_to_async(make_customer)()
    await sync_to_async(add_totp)(customer)
    client = Client()
    await sync_to_async(client.post)(
        "/accounts/login/", {"email": customer.email, "password": PASSWORD}
    )
    connected, code = await socket(client, "/ws/events/").connect()
    assert (connected, code) == (False, 4403)


# --------------------------------------------------------------------------- TLS


async def test_plain_ws_is_refused_when_tls_is_required(settings, make_customer):
    """Checklist 15: in production (WEBSOCKET_REQUIRE_TLS) a socket that did not come over TLS
    is refused with 4426; nginx's X-Forwarded-Proto counts only from a trusted proxy."""
    settings.WEBSOCKET_REQUIRE_TLS = True
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    customer = await sync_to_async(make_customer)()
    client = await signed_in(customer)
    https = [(b"x-forwarded-proto", b"https")]

    plain = socket(client, "/ws/events/", client=["127.0.0.1", 40000])
    assert await plain.connect() == (False, 4426)
    forged = socket(client, "/ws/events/", client=["203.0.113.5", 40000], headers=https)
    assert await forged.connect() == (False, 4426)
    anonymous = socket(None, "/ws/events/", client=["203.0.113.5", 40000])
    assert await anonymous.connect() == (False, 4426)  # refused before anything else

    proxied = socket(client, "/ws/events/", client=["127.0.0.1", 40000], headers=https)
    assert (await proxied.connect())[0]
    await proxied.disconnect()
    direct = socket(client, "/ws/events/", scheme="wss", client=["203.0.113.5", 40000])
    assert (await direct.connect())[0]
    await direct.disconnect()


def test_production_requires_tls_for_sockets_by_default():
    """WEBSOCKET_REQUIRE_TLS follows SECURE_SSL_REDIRECT, which is on unless DEBUG."""
    import os
    import subprocess
    import sys

    from servicedesk.tests.test_settings import PRODUCTION, ROOT

    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL"}}
    code = (
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'servicedesk.settings'); "
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.WEBSOCKET_REQUIRE_TLS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, **PRODUCTION, "SITE_URL": "https://desk.welddesk.example"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "True", result.stderr


# --------------------------------------------------------------------------- while open


async def test_an_open_console_is_closed_when_its_session_passes_the_idle_limit(make_staff):
    """An agent's console open with only heartbeats is closed (4401) once the session has been
    idle for 30 minutes; the expiry is audited and the agent goes offline."""
    from chat.models import AgentPresence

    staff = await sync_to_async(make_staff)()
    client = await signed_in(staff)
    await age_session(client, idle=IDLE - 2, total=IDLE)
    ws = socket(client, "/ws/chat/console/")
    assert (await ws.connect())[0]
    await ws.send_json_to({"type": "presence", "state": "online"})  # a heartbeat, not activity
    assert await closed_with(ws) == 4401
    assert await expiries("idle") == 1
    await ws.disconnect()
    state = await sync_to_async(lambda: AgentPresence.objects.get(agent=staff).state)()
    assert state == "offline"


async def test_an_active_console_is_closed_at_the_12_hour_limit(make_staff):
    staff = await sync_to_async(make_staff)()
    client = await signed_in(staff)
    await age_session(client, idle=0, total=MAX_AGE - 2)
    ws = socket(client, "/ws/chat/console/")
    assert (await ws.connect())[0]
    assert await closed_with(ws) == 4401
    assert await expiries("max_age") == 1
    await ws.disconnect()


async def test_sockets_close_within_a_check_when_the_person_is_deactivated(settings, make_staff):
    """Checklist 9: deactivation ends every session; every open socket notices at its next
    check (WEBSOCKET_SESSION_CHECK_SECONDS, 60 s by default: within a minute), not only the
    account-events socket that is told at once."""
    settings.WEBSOCKET_SESSION_CHECK_SECONDS = 1
    staff = await sync_to_async(make_staff)()
    client = await signed_in(staff)
    ws = socket(client, "/ws/chat/console/")
    assert (await ws.connect())[0]
    await sync_to_async(services.user_set_access)(user=staff, actor=None, is_active=False)
    assert await closed_with(ws) == 4401
    await ws.disconnect()


async def test_a_reset_second_factor_closes_the_persons_open_sockets(settings, make_staff):
    settings.WEBSOCKET_SESSION_CHECK_SECONDS = 1
    staff = await sync_to_async(make_staff)()
    client = await signed_in(staff)
    ws = socket(client, "/ws/chat/console/")
    assert (await ws.connect())[0]
    await sync_to_async(services.otp_devices_reset)(user=staff, actor=None, reason="test")
    assert await closed_with(ws) == 4403
    await ws.disconnect()


# --------------------------------------------------------------------------- when a check fails


def failing_checks(monkeypatch, *, failures: int | None):
    """Make the gate's session check raise a database error after the handshake's check:
    `failures` times, or every time (None). Returns the list of calls made."""
    from django.db import OperationalError

    from accounts import sockets

    real, calls = sockets._verdict, []

    def verdict(*args, **kwargs):
        calls.append(args)
        if len(calls) > 1 and (failures is None or len(calls) - 1 <= failures):
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(sockets, "_verdict", verdict)
    monkeypatch.setattr(sockets, "CHECK_RETRY_SECONDS", 0.2)
    return calls


async def test_a_socket_whose_session_cannot_be_checked_is_closed_not_left_open(
    settings, monkeypatch, caplog, make_staff
):
    """Fail closed: when the session check keeps raising (the database is away), the watcher
    does not die leaving the socket open and unchecked; it tries once more, then closes the
    socket with 1011 (the page reconnects, and the handshake checks the session again). The
    log names the user by id only."""
    settings.WEBSOCKET_SESSION_CHECK_SECONDS = 1
    calls = failing_checks(monkeypatch, failures=None)
    staff = await sync_to_async(make_staff)(email="kept.out.of.logs@welddesk.example")
    client = await signed_in(staff)
    ws = socket(client, "/ws/chat/console/")
    assert (await ws.connect())[0]
    assert await closed_with(ws) == 1011
    assert len(calls) == 3  # the handshake, the failed check and its one retry
    await ws.disconnect()
    assert f"user:{staff.pk}" in caplog.text
    assert "kept.out.of.logs" not in caplog.text


async def test_a_socket_whose_check_failed_once_is_checked_again(settings, monkeypatch, make_staff):
    """One failed check (a database blip) is retried, and the watcher keeps watching: a
    deactivation after the blip still closes the socket (4401)."""
    settings.WEBSOCKET_SESSION_CHECK_SECONDS = 1
    calls = failing_checks(monkeypatch, failures=1)
    staff = await sync_to_async(make_staff)()
    client = await signed_in(staff)
    ws = socket(client, "/ws/chat/console/")
    assert (await ws.connect())[0]
    for _ in range(50):  # the handshake, the failed check, the retry that succeeded
        if len(calls) >= 3:
            break
        await asyncio.sleep(0.1)
    assert len(calls) >= 3, "the failed check was not tried again"
    await sync_to_async(services.user_set_access)(user=staff, actor=None, is_active=False)
    assert await closed_with(ws) == 4401
    await ws.disconnect()
