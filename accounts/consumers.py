"""Per-user WebSocket: account events (e.g. the session was revoked after a password change).

Who may connect is decided once for every socket by accounts.sockets.SocketGate.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core import jsoninput

CLOSE_REVOKED = 4001


class UserEventsConsumer(AsyncJsonWebsocketConsumer):
    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        """Frames through core.jsoninput: deep or NUL-laden JSON is a bad frame, not a crash."""
        return jsoninput.loads(text_data)

    async def connect(self) -> None:
        user = self.scope["user"]  # admitted by the gate: signed in, limits and 2FA checked
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else ""
        self.group = f"user.{user.pk}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Answer malformed frames with an error frame instead of dropping the socket."""
        try:
            content = await self.decode_json(text_data) if text_data else None
        except ValueError:
            content = None
        if not isinstance(content, dict):
            await self.send_json(
                {"type": "error", "code": "bad_frame", "message": "Frames are JSON objects."}
            )
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {"type": "error", "code": "unknown_frame", "message": "Unknown frame type."}
            )

    async def session_revoked(self, event: dict) -> None:
        if event.get("keep") and event["keep"] == self.session_key:
            return
        await self.send_json({"type": "session.revoked"})
        await self.close(code=CLOSE_REVOKED)
