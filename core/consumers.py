"""The base of every WebSocket consumer: frames in through core.jsoninput, bad ones answered.

Every socket speaks JSON objects with a "type" (docs/chat-protocol.md). Decoding untrusted
frames, and answering a frame that is not such an object, is the same concern on every
socket, so it lives here once: a frame nested too deep or holding a NUL (core.jsoninput), a
frame that is not JSON, not an object or has no string "type", and a binary frame get an
`error` frame with the code `bad_frame`, and the socket stays open. Subclasses handle
well-formed frames in `receive_json` and answer frames they do not know with `unknown_type`.
"""

from __future__ import annotations

import time
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core import jsoninput


class FrameConsumer(AsyncJsonWebsocketConsumer):
    """An AsyncJsonWebsocketConsumer whose `receive_json` sees only objects with a type."""

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        """Frames through core.jsoninput: deep or NUL-laden JSON is a bad frame, not a crash."""
        return jsoninput.loads(text_data)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Answer malformed frames with an error frame instead of dropping the socket."""
        try:
            content = await self.decode_json(text_data) if text_data else None
        except ValueError:  # jsoninput's refusals and the decoder's own errors
            content = None
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("bad_frame", "Frames are JSON objects with a type.")
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content: dict, **kwargs) -> None:
        await self.send_unknown_type()

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    async def send_unknown_type(self) -> None:
        await self.send_error("unknown_type", "Unknown frame type.")


class FrameBucket:
    """A token bucket per connection: `rate` frames a second on average, bursts of twice that.

    Every socket that takes frames from a page limits them the same way (the chat, the
    workspace), so the rule lives here once; a consumer makes one in `connect` and answers a
    frame `take()` refuses with its own error.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.allowance = 2 * rate
        self.checked = time.monotonic()

    def take(self) -> bool:
        """Spend one token; False when the connection is over its rate."""
        now = time.monotonic()
        self.allowance = min(2 * self.rate, self.allowance + (now - self.checked) * self.rate)
        self.checked = now
        if self.allowance < 1:
            return False
        self.allowance -= 1
        return True
