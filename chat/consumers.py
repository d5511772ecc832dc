"""The chat WebSocket (/ws/chat/<id>/): JSON frames, stored before acknowledged, resumable.

See docs/chat-protocol.md. Every frame a client sends is a JSON object with a "type". The
server stores a message before it acknowledges it, tells everyone in the conversation, and on
"resume" replays every stored message after the number the client last saw.
"""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async

from accounts.sockets import CLOSE_OTP_REQUIRED, note_activity
from chat import bot, presence, services
from chat.frames import message_frame
from chat.models import ChatMessage, ConversationStatus, PresenceState
from chat.writer import writer
from core.consumers import FrameBucket, FrameConsumer
from core.errors import ApplicationError

CLOSE_NOT_FOUND = 4404
# A client may send this many frames per second on average, with bursts of twice that.
RATE_PER_SECOND = 10.0
PRESENCE_STATES = ("online", "away")


def _frames(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return [message_frame(m) for m in messages]


class _Consumer(FrameConsumer):
    """Frames are read (and bad ones answered) by core.consumers.FrameConsumer."""

    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch, without its hop to the database thread before every event.

        Channels closes stale database connections before each frame and group event, one
        trip to the (single) database thread each time. Every database call here goes through
        database_sync_to_async, which closes stale connections itself around the call; the
        extra trips only queued behind the stored messages.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class ChatConsumer(_Consumer):
    # Frames that are the person acting: they count as activity against the staff idle limit
    # (pings, presence and resumes are the page's own and do not).
    ACTIVITY = frozenset(
        {"message", "typing", "read", "close", "rate", "callback", "to_ticket", "person", "wait"}
    )

    async def connect(self) -> None:
        user = self.scope["user"]  # admitted by accounts.sockets.SocketGate
        pk = self.scope["url_route"]["kwargs"]["conversation_id"]
        try:
            self.conversation = await database_sync_to_async(services.conversation_for)(
                user=user, pk=pk
            )
        except ApplicationError:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.user = user
        self.group = f"chat.{self.conversation.pk}"
        self.frames = FrameBucket(RATE_PER_SECOND)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self._broadcast({"type": "presence", "state": "offline", **self._who()})
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # ------------------------------------------------------------------ frames in

    async def receive_json(self, content: dict, **kwargs) -> None:
        if not self.frames.take():
            await self.send_error("rate_limited", "Too many frames; slow down.")
            return
        handler = {
            "message": self._message,
            "resume": self._resume,
            "typing": self._typing,
            "read": self._read,
            "presence": self._presence,
            "ping": self._ping,
            "close": self._close,
            "rate": self._rate,
            "callback": self._callback,
            "to_ticket": self._to_ticket,
            "person": self._wait,
            "wait": self._wait,
        }.get(content["type"])
        if handler is None:
            await self.send_unknown_type()
            return
        if content["type"] in self.ACTIVITY:
            await note_activity(self.scope)
        await handler(content)

    async def _message(self, content: dict) -> None:
        # Stored with the other consumers' waiting messages in one transaction (chat/writer.py).
        result, frame = await writer().post(
            services.Post(
                conversation=self.conversation,
                sender=self.user,
                body=content.get("body"),
                client_id=content.get("client_id"),
                attachment_ids=content.get("attachments") or (),
            )
        )
        if isinstance(result, ApplicationError):
            await self.send_error(result.code, result.message, client_id=content.get("client_id"))
            return
        message, created = result
        # Stored: acknowledge to the sender, then tell the conversation (a resend only gets
        # its acknowledgement again; the others saw the message the first time).
        await self.send_json({"type": "ack", "client_id": message.client_id, "seq": message.seq})
        if created:
            await self._broadcast(frame)
            # The batch refreshed the conversation's status: the bot follows the chat only
            # while it waits (and checks again under the row lock before it speaks).
            if message.from_customer and self.conversation.status == ConversationStatus.WAITING:
                for reply in await database_sync_to_async(self._bot)(message.body):
                    await self._broadcast(reply)

    def _bot(self, text: str) -> list[dict]:
        said = bot.answer(conversation=self.conversation, text=text)
        return [message_frame(m, files=[]) for m in said]

    async def _act(self, call, **kwargs) -> Any:
        """Run a service; on refusal send an error frame and return None."""
        try:
            return await database_sync_to_async(call)(conversation=self.conversation, **kwargs)
        except ApplicationError as exc:
            await self.send_error(exc.code, exc.message)
            return None

    async def _after_bot(self) -> None:
        """Send the bot's latest message (a confirmation) to everyone."""
        latest = await database_sync_to_async(
            lambda: self.conversation.messages.filter(is_bot=True).order_by("-seq").first()
        )()
        if latest is not None:
            await self._broadcast(await database_sync_to_async(message_frame)(latest))

    async def _callback(self, content: dict) -> None:
        ticket = await self._act(bot.callback_request, user=self.user, phone=content.get("phone"))
        if ticket is not None:
            await self._after_bot()

    async def _to_ticket(self, content: dict) -> None:
        ticket = await self._act(bot.to_ticket, user=self.user)
        if ticket is not None:
            await self._broadcast({"type": "closed", "ticket": ticket.reference})

    async def _wait(self, content: dict) -> None:
        said = await self._act(bot.keep_waiting)
        if said is not None:  # None too once an agent has the chat: the bot is silent
            await self._broadcast(await database_sync_to_async(message_frame)(said, files=[]))

    async def _close(self, content: dict) -> None:
        closed = await self._act(services.conversation_close, actor=self.user)
        if closed is not None:
            ticket = await database_sync_to_async(lambda: closed.ticket.reference)()
            await self._broadcast({"type": "closed", "ticket": ticket})

    async def _rate(self, content: dict) -> None:
        rated = await self._act(
            services.conversation_rate,
            user=self.user,
            rating=content.get("rating"),
            comment=content.get("comment", ""),
        )
        if rated is not None:
            await self.send_json({"type": "rated", "rating": rated.rating})

    async def _resume(self, content: dict) -> None:
        last_seq = content.get("last_seq", 0)
        if not isinstance(last_seq, int) or isinstance(last_seq, bool) or last_seq < 0:
            await self.send_error("bad_frame", "resume needs last_seq, a number of 0 or more.")
            return
        while True:
            missed = await database_sync_to_async(services.messages_after)(
                conversation=self.conversation, last_seq=last_seq
            )
            frames = await database_sync_to_async(_frames)(missed)
            for message, frame in zip(missed, frames, strict=True):
                await self.send_json(frame)
                self._note_delivery(frame)
                last_seq = message.seq
            if len(missed) < 500:
                break
        await self.send_json({"type": "resumed", "last_seq": last_seq})

    async def _typing(self, content: dict) -> None:
        await self._broadcast(
            {"type": "typing", "typing": bool(content.get("typing", True)), **self._who()}
        )

    async def _read(self, content: dict) -> None:
        seq = content.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            await self.send_error("bad_frame", "read needs seq, a message number.")
            return
        await database_sync_to_async(services.messages_read)(
            conversation=self.conversation, reader=self.user, up_to=seq
        )
        await self._broadcast({"type": "read", "seq": seq, **self._who()})

    async def _presence(self, content: dict) -> None:
        state = content.get("state", "online")
        if state not in PRESENCE_STATES:
            await self.send_error("bad_frame", "presence state is online or away.")
            return
        await self._broadcast({"type": "presence", "state": state, **self._who()})

    async def _ping(self, content: dict) -> None:
        # The latest stored number: a client that saw less missed a frame on the way (the
        # Redis layer is at-most-once) and asks to resume.
        last_seq = await database_sync_to_async(services.conversation_last_seq)(
            conversation=self.conversation
        )
        await self.send_json({"type": "pong", "last_seq": last_seq})

    # ------------------------------------------------------------------ frames out

    async def chat_event(self, event: dict) -> None:
        """A frame for everyone in the conversation; typing and presence skip their author."""
        frame = event["frame"]
        if (
            frame["type"] in ("typing", "presence", "read")
            and event.get("from") == self.channel_name
        ):
            return
        await self.send_json(frame)
        self._note_delivery(frame)

    def _note_delivery(self, frame: dict) -> None:
        """A message frame that reached the other side (customer vs. desk) marks it delivered."""
        if frame["type"] == "message" and frame["from_customer"] == bool(self.user.is_staff):
            writer().delivered(self.conversation.pk, frame["seq"])

    async def _broadcast(self, frame: dict) -> None:
        await self.channel_layer.group_send(
            self.group, {"type": "chat.event", "frame": frame, "from": self.channel_name}
        )

    def _who(self) -> dict[str, Any]:
        return {"user": self.user.pk, "staff": bool(self.user.is_staff)}


class ConsoleConsumer(_Consumer):
    """The agent console's socket (/ws/chat/console/): presence heartbeats, assignments.

    Connecting makes the agent online; a "presence" frame every 20 s or so keeps them so (or
    sets away); closing the tab makes them offline at once, a vanished one within the
    presence timeout (60 s) by the sweep.
    """

    async def connect(self) -> None:
        user = self.scope["user"]  # admitted by accounts.sockets.SocketGate
        if not user.is_staff:
            await self.close(code=CLOSE_OTP_REQUIRED)
            return
        self.user = user
        await self.accept()
        await database_sync_to_async(presence.presence_beat)(agent=user)
        await self.send_json({"type": "presence", "state": "online"})

    async def disconnect(self, code: int) -> None:
        if getattr(self, "user", None) is not None:
            await database_sync_to_async(presence.presence_beat)(
                agent=self.user, state=PresenceState.OFFLINE
            )

    async def receive_json(self, content: dict, **kwargs) -> None:
        if content["type"] == "presence" and content.get("state") in PRESENCE_STATES:
            await database_sync_to_async(presence.presence_beat)(
                agent=self.user, state=content["state"]
            )
            await self.send_json({"type": "presence", "state": content["state"]})
        elif content["type"] == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_unknown_type()
