"""Streaming responses whose memory stays flat under both ASGI and WSGI.

Under ASGI, Django serves a StreamingHttpResponse built on a synchronous iterator by first
reading the whole iterator into a list (with a warning). A big export would then sit in memory
whole. Here, under ASGI, each part is pulled from the synchronous iterator in the sync thread
(thread_sensitive: one database connection throughout) and sent before the next is made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

_DONE = object()


async def _pull(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    step = sync_to_async(next, thread_sensitive=True)
    while True:
        part = await step(iterator, _DONE)
        if part is _DONE:
            return
        yield part


def streaming_response(
    request: Any, parts: Iterator[bytes], **kwargs: Any
) -> StreamingHttpResponse:
    content = _pull(iter(parts)) if isinstance(request, ASGIRequest) else parts
    return StreamingHttpResponse(content, **kwargs)
