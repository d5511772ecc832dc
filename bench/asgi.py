"""The desk's ASGI application plus the floors of the chat benchmark (bench/chat.py).

The fair floor (`/bench/ws/floor/<pair>/<side>/`) is a bare Channels consumer that does a chat
message's frame work without storing anything: one frame in, decoded and checked as the chat
does (core.consumers.FrameConsumer, the rate bucket, the body and client id rules), the
acknowledgement back, and the message frame sent once to the pair's group through the same
channel layer, which delivers it to both sides (the other side's socket and the sender's own,
as the chat's group does). So a floor round trip is what a chat round trip is, less the
database: two messages, each one frame in, an acknowledgement and two deliveries out, one
publish. The echo floor (`/bench/ws/echo/`) sends each text frame straight back.

The desk's sockets are mounted without accounts.sockets.SocketGate (servicedesk/asgi.py has
it): its session check runs at the handshake on the database thread, and a thousand sockets
joining at once outran Daphne's handshake timeout; per frame it adds two wrappers only.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.consumer import get_handler_name  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils import timezone  # noqa: E402

from chat.consumers import RATE_PER_SECOND  # noqa: E402
from chat.services import CLIENT_ID, MAX_BODY  # noqa: E402
from core.consumers import FrameBucket, FrameConsumer  # noqa: E402
from servicedesk.routing import websocket_urlpatterns  # noqa: E402


class EchoConsumer(AsyncWebsocketConsumer):
    """The echo floor: accept, and send every text frame straight back."""

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data)


class FloorChatConsumer(FrameConsumer):
    """The fair floor: a chat message's frames and channel-layer work, without storage."""

    async def dispatch(self, message: dict) -> None:
        # As chat.consumers._Consumer: no hop to the database thread before every event.
        await getattr(self, get_handler_name(message))(message)

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        self.group = f"floor.{kwargs['pair']}"
        self.from_customer = kwargs["side"] == "c"
        self.frames = FrameBucket(RATE_PER_SECOND)
        self.seq = 0
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: dict, **kwargs) -> None:
        if not self.frames.take():
            await self.send_error("rate_limited", "Too many frames; slow down.")
            return
        if content["type"] != "message":
            await self.send_unknown_type()
            return
        client_id, body = content.get("client_id"), content.get("body")
        body = body.strip() if isinstance(body, str) else ""
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            await self.send_error("bad_client_id", "A message needs a client id.")
            return
        if not body or len(body) > MAX_BODY:
            await self.send_error("empty", "Write a message.", client_id=client_id)
            return
        self.seq += 1
        await self.send_json({"type": "ack", "client_id": client_id, "seq": self.seq})
        frame = {
            "type": "message",
            "seq": self.seq,
            "client_id": client_id,
            "body": body,
            "from_customer": self.from_customer,
            "bot": False,
            "sender": "Customer" if self.from_customer else "Agent",
            "at": timezone.now().isoformat(),
        }
        await self.channel_layer.group_send(
            self.group, {"type": "chat.event", "frame": frame, "from": self.channel_name}
        )

    async def chat_event(self, event: dict) -> None:
        await self.send_json(event["frame"])


floors = URLRouter(
    [
        path("bench/ws/echo/", EchoConsumer.as_asgi()),
        path("bench/ws/floor/<int:pair>/<str:side>/", FloorChatConsumer.as_asgi()),
    ]
)
desk = URLRouter(websocket_urlpatterns)


async def _sockets(scope, receive, send):
    """The floors for /bench/ paths, the desk's sockets for the rest."""
    inner = floors if scope["path"].startswith("/bench/") else desk
    return await inner(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(_sockets)),
    }
)
