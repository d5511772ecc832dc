"""The one sign-in gate of every WebSocket: TLS, the session, staff limits, second factor.

servicedesk/asgi.py wraps the whole WebSocket router in `SocketGate`, so no consumer sees a
socket the gate has not admitted and none repeats its checks. At the handshake it refuses
(close codes, docs/chat-protocol.md):

* 4426: a socket that did not come over TLS, when WEBSOCKET_REQUIRE_TLS (production). TLS ends
  at nginx, so `X-Forwarded-Proto: https` counts, but only from TRUSTED_PROXIES;
* 4401: no signed-in session, or a staff session past its idle or absolute limit (the same
  rule as pages, `accounts.services.auth.staff_session_check`; the session is ended and the
  expiry audited, as a page would);
* 4403: staff, or a customer who enrolled a device, without a verified second factor.

While a socket is open the gate re-reads its session at least every
WEBSOCKET_SESSION_CHECK_SECONDS, and at the moment a staff limit passes, and closes the socket
once the session is gone (signed out elsewhere, password changed, deactivated: 4401), has
passed a staff limit (4401, audited) or lost its second factor (4403). A check that fails
(the database away, the session deleted while it was saved) is tried once more after
CHECK_RETRY_SECONDS; when that fails too the socket is closed with 1011: fail closed, never a
socket left open without its checks (the page reconnects, and the handshake checks again).

Activity: a frame that is the person acting (a chat message, a reply) counts as activity, as
an HTTP request does, when the consumer says so with `note_activity`. Heartbeats, pings and
presence frames do not: a forgotten console ends 30 minutes after the agent's last act, and
every staff socket ends at the 12-hour limit, whatever it carries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.utils.crypto import constant_time_compare

from accounts.services import auth as auth_services
from core.net import in_networks

CLOSE_UNAUTHENTICATED = 4401
CLOSE_OTP_REQUIRED = 4403
CLOSE_TLS_REQUIRED = 4426
CLOSE_CHECK_FAILED = 1011  # WebSocket "internal error": the session could not be checked

log = logging.getLogger(__name__)

GATE = "welddesk.gate"  # the scope key of an admitted socket's guard
ACTIVITY_EVERY = 60  # seconds: activity is written to the session at most this often
CHECK_RETRY_SECONDS = 2  # a failed check is tried once more after this pause, then closes


def socket_is_secure(scope: dict) -> bool:
    """True when the socket came over TLS: a wss scope, or nginx saying so from a trusted
    proxy address (anyone else could send the header)."""
    if scope.get("scheme") == "wss":
        return True
    headers = dict(scope.get("headers") or [])
    proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
    client = (scope.get("client") or [None])[0]
    return proto == "https" and in_networks(client, settings.TRUSTED_PROXIES)


def _session_store(session_key: str | None):
    engine = import_module(settings.SESSION_ENGINE)
    return engine.SessionStore(session_key)


def _still_signed_in(user: Any, store: Any) -> bool:
    """The stored session still signs this user in, as a page would find it: it exists, names
    this user, the user may sign in (active) and the password has not changed since."""
    owner = store.get(SESSION_KEY)  # loads the stored session once; a missing one has no key
    if store.session_key is None or str(owner) != str(user.pk):
        return False
    backend_path = store.get(BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    current = load_backend(backend_path).get_user(user.pk)
    if current is None:
        return False
    stored_hash = store.get(HASH_SESSION_KEY) or ""
    hashes = [current.get_session_auth_hash(), *current.get_session_auth_fallback_hash()]
    return bool(stored_hash) and any(constant_time_compare(stored_hash, h) for h in hashes)


def _second_factor_verified(user: Any, session: Any) -> bool:
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id, for_verify=False)
    return device is not None and device.user_id == user.pk and device.confirmed


def _verdict(user: Any, session_key: str | None, *, active: bool = False) -> tuple[int, int]:
    """Check the stored session now: return (close code or 0, seconds until the next check).

    Reads the session afresh (pages may have changed it since the handshake) and saves it when
    it stamped it or noted activity.
    """
    every = settings.WEBSOCKET_SESSION_CHECK_SECONDS
    store = _session_store(session_key)
    if not _still_signed_in(user, store):
        return CLOSE_UNAUTHENTICATED, every  # signed out, ended, expired, deactivated
    now = int(time.time())
    if user.is_staff:
        reason = auth_services.staff_session_check(store, now=now, active=active)
        if reason is not None:
            auth_services.session_expired_record(reason=reason, user=user, session=store)
            return CLOSE_UNAUTHENTICATED, every
    needs_second_factor = user.is_staff or store.get(auth_services.SESSION_NEEDS_OTP)
    if needs_second_factor and not _second_factor_verified(user, store):
        return CLOSE_OTP_REQUIRED, every
    if store.modified:
        store.save()
    ends_at = auth_services.staff_session_ends_at(store) if user.is_staff else None
    if ends_at is not None:
        every = max(1, min(every, ends_at - now + 1))
    return 0, every


class _Guard:
    """Watches one admitted socket's session and closes the socket when it ends."""

    def __init__(self, user: Any, session_key: str | None, send, first_check_in: int):
        self.user = user
        self.session_key = session_key
        self.send = send
        self.next_check_in = first_check_in
        self.closed = False
        self.noted_at = time.monotonic()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.ensure_future(self._watch())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def close(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            await self.send({"type": "websocket.close", "code": code})

    async def _check(self, *, active: bool = False) -> tuple[int, int]:
        """Run the verdict in the database thread. An error is logged and tried once more
        after a pause; when it fails again the socket is to be closed (1011), so a watcher
        never ends quietly and leaves the socket unchecked."""
        for attempt in (1, 2):
            try:
                return await database_sync_to_async(_verdict)(
                    self.user, self.session_key, active=active
                )
            except Exception as exc:
                # The type only: a database error's text may quote values.
                log.warning(
                    "socket session check failed (%s, attempt %s of 2) for user:%s",
                    type(exc).__name__,
                    attempt,
                    self.user.pk,
                )
            if attempt == 1:
                await asyncio.sleep(CHECK_RETRY_SECONDS)
                if self.closed:
                    return 0, 0
        return CLOSE_CHECK_FAILED, 0

    async def _watch(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.next_check_in)
            code, self.next_check_in = await self._check()
            if code:
                await self.close(code)

    async def note_activity(self) -> None:
        if time.monotonic() - self.noted_at < ACTIVITY_EVERY or self.closed:
            return
        self.noted_at = time.monotonic()
        code, _ = await self._check(active=True)
        if code:
            await self.close(code)


async def note_activity(scope: dict) -> None:
    """The person behind this socket acted: for staff it counts against the idle limit."""
    guard = scope.get(GATE)
    if guard is not None:
        await guard.note_activity()


class SocketGate:
    """ASGI middleware in front of every WebSocket route (inside AuthMiddlewareStack)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return None  # gone before the handshake
        user = scope.get("user")
        session = scope.get("session")
        session_key = session.session_key if session is not None else None
        if settings.WEBSOCKET_REQUIRE_TLS and not socket_is_secure(scope):
            code, every = CLOSE_TLS_REQUIRED, 0
        elif user is None or not user.is_authenticated:
            code, every = CLOSE_UNAUTHENTICATED, 0
        else:
            code, every = await database_sync_to_async(_verdict)(user, session_key)
        if code:
            await send({"type": "websocket.close", "code": code})
            return None
        guard = _Guard(user, session_key, send, every)
        pending = [connect]

        async def gated_receive():
            if pending:
                return pending.pop()
            while True:
                message = await receive()
                if not (guard.closed and message["type"] == "websocket.receive"):
                    return message

        async def gated_send(message):
            if guard.closed:
                return  # the gate closed the socket: nothing more goes out
            if message["type"] == "websocket.accept":
                guard.start()
            elif message["type"] == "websocket.close":
                guard.closed = True
            await send(message)

        try:
            return await self.inner(dict(scope, **{GATE: guard}), gated_receive, gated_send)
        finally:
            guard.stop()
