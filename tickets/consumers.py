"""The agents' workspace socket (/ws/workspace/): which tickets changed, and who is on one.

Who may connect is decided once for every socket by accounts.sockets.SocketGate (signed in,
staff limits, second factor); this socket then admits staff only (a customer is closed with
4404) and joins the groups of the regions the agent works for, or `desk.all` for staff who
see every region (tickets.services.live). Events carry ticket ids, never what the tickets
say: the page fetches rows and messages over HTTP with the agent's own scope.

Presence ("Wang Li is viewing", "... is replying") lives in the channel layer only: a page
`watch`es one ticket (checked against the agent's scope), says so to the ticket's group, and
the others answer it directly with their own state. Nothing is written to the database per
keystroke; pages repeat their state every 30 s and forget one not heard of for 75 s, so a
socket that vanished without a goodbye fades by itself. See docs/chat-protocol.md.
"""

from __future__ import annotations

from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async

from accounts.permissions import is_staff_member, scope_by_organisation, staff_region_ids
from accounts.sockets import note_activity
from core.consumers import FrameBucket, FrameConsumer
from tickets.services.live import DESK_ALL, region_group

CLOSE_STAFF_ONLY = 4404
RATE_PER_SECOND = 5.0  # frames a page may send per second on average (bursts of twice that)
STATES = ("viewing", "replying")


def _ticket_group(pk: int) -> str:
    return f"desk.ticket.{pk}"


def _admit(user: Any) -> tuple[list[str], str] | None:
    """The groups of a staff member's regions and the name others see; None for non-staff."""
    if not is_staff_member(user):
        return None
    regions = staff_region_ids(user)
    groups = [DESK_ALL] if regions is None else [region_group(r) for r in regions]
    return groups, (user.full_name or user.email)


def _may_see(user: Any, pk: int) -> bool:
    from tickets.models import Ticket

    return scope_by_organisation(user, Ticket.objects.filter(pk=pk)).exists()


class WorkspaceConsumer(FrameConsumer):
    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch without its trip to the database thread before every event.

        Every agent's socket gets every event of their regions; Channels would first close
        stale connections in the (single) database thread for each, and those trips queue.
        The database calls here go through database_sync_to_async, which does it itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope["user"]  # admitted by the gate: signed in, limits and 2FA checked
        admitted = await database_sync_to_async(_admit)(user)
        if admitted is None:
            await self.close(code=CLOSE_STAFF_ONLY)
            return
        self.user = user
        self.groups_joined, self.name = admitted
        self.watching: int | None = None
        self.state = "viewing"
        self.frames = FrameBucket(RATE_PER_SECOND)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self._unwatch()
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    # ------------------------------------------------------------------ frames in

    async def receive_json(self, content: dict, **kwargs) -> None:
        if not self.frames.take():
            await self.send_error("rate_limited", "Too many frames; slow down.")
            return
        handler = {
            "ping": self._ping,
            "watch": self._watch,
            "unwatch": self._leave,
            "typing": self._typing,
        }.get(content["type"])
        if handler is None:
            await self.send_unknown_type()
            return
        await handler(content)

    async def _ping(self, content: dict) -> None:
        await self.send_json({"type": "pong"})

    async def _watch(self, content: dict) -> None:
        pk = content.get("ticket")
        if not isinstance(pk, int) or isinstance(pk, bool) or pk < 1:
            await self.send_error("bad_frame", "watch needs ticket, a ticket id.")
            return
        if pk == self.watching:  # the page's periodic repeat: say it again, ask nobody
            await self._say(self.state)
            return
        # Scoped like the ticket page: another region's ticket is refused as not found.
        if not await database_sync_to_async(_may_see)(self.user, pk):
            await self.send_error("not_found", "No such ticket.", ticket=pk)
            return
        await self._unwatch()
        self.watching, self.state = pk, "viewing"
        await self.channel_layer.group_add(_ticket_group(pk), self.channel_name)
        await self._say("viewing", hello=True)
        await self.send_json({"type": "watching", "ticket": pk})

    async def _leave(self, content: dict) -> None:
        await self._unwatch()

    async def _typing(self, content: dict) -> None:
        if self.watching is None:
            await self.send_error("not_watching", "Watch a ticket first.")
            return
        state = "replying" if content.get("typing") is True else "viewing"
        if state == "replying":
            await note_activity(self.scope)  # the agent writing counts as activity
        if state != self.state:
            self.state = state
            await self._say(state)

    async def _unwatch(self) -> None:
        pk = getattr(self, "watching", None)
        if pk is None:
            return
        self.watching = None
        await self._say_to(pk, "left")
        await self.channel_layer.group_discard(_ticket_group(pk), self.channel_name)

    async def _say(self, state: str, *, hello: bool = False) -> None:
        await self._say_to(self.watching, state, hello=hello)

    async def _say_to(self, pk: int, state: str, *, hello: bool = False) -> None:
        await self.channel_layer.group_send(
            _ticket_group(pk), {"type": "desk.presence", **self._who(pk, state), "hello": hello}
        )

    def _who(self, pk: int, state: str) -> dict:
        return {
            "ticket": pk,
            "user": self.user.pk,
            "name": self.name,
            "state": state,
            "from": self.channel_name,
        }

    # ------------------------------------------------------------------ group events

    async def desk_tickets(self, event: dict) -> None:
        await self.send_json(event["frame"])

    async def desk_presence(self, event: dict) -> None:
        if event["ticket"] != self.watching or event["user"] == self.user.pk:
            return  # another ticket, or this agent's own other tab
        await self.send_json(
            {
                "type": "presence",
                "ticket": event["ticket"],
                "user": event["user"],
                "name": event["name"],
                "state": event["state"],
            }
        )
        if event.get("hello"):  # a newcomer: tell them who is already here
            await self.channel_layer.send(
                event["from"],
                {"type": "desk.presence", **self._who(self.watching, self.state), "hello": False},
            )
