"""Per-user WebSocket: account events (e.g. the session was revoked after a password change).

Who may connect is decided once for every socket by accounts.sockets.SocketGate; frames are
read (and bad ones answered) by core.consumers.FrameConsumer.
"""

from __future__ import annotations

from core.consumers import FrameConsumer

CLOSE_REVOKED = 4001


class UserEventsConsumer(FrameConsumer):
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

    async def receive_json(self, content: dict, **kwargs) -> None:
        if content["type"] == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_unknown_type()

    async def session_revoked(self, event: dict) -> None:
        if event.get("keep") and event["keep"] == self.session_key:
            return
        await self.send_json({"type": "session.revoked"})
        await self.close(code=CLOSE_REVOKED)
