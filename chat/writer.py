"""Group commit for the chat: the consumers of a process store their messages through one writer.

A consumer hands its message to the writer of its event loop and waits. The writer takes
everything that is waiting, stores it as one batch in one transaction on the database thread
(services.messages_post_many: a fixed number of statements per batch), and answers each
consumer with its own result. While a batch is in the database the next one gathers, so a busy
process sends many messages per transaction and a quiet one sends each at once, without a
timer. An acknowledgement still follows the commit of the message it names.

Delivery marks (a message reached a client of the other side) are gathered the same way and
written in one UPDATE per batch.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from channels.db import database_sync_to_async
from django.db import DatabaseError
from django.db.models import prefetch_related_objects
from django.utils.translation import gettext as _

from chat import services
from chat.frames import message_frame
from chat.services import Post, Stored
from core.errors import ApplicationError

logger = logging.getLogger(__name__)

# At most this many messages in one transaction (a bound on its time and on the lock list).
MAX_BATCH = 200

_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def writer() -> Writer:
    """The writer of the running event loop (each loop has its own database thread calls)."""
    loop = asyncio.get_running_loop()
    found = _writers.get(loop)
    if found is None:
        found = _writers[loop] = Writer()
    return found


class Writer:
    def __init__(self) -> None:
        self._posts: list[tuple[Post, asyncio.Future]] = []
        self._delivered: set[tuple[int, int]] = set()
        self._task: asyncio.Task | None = None

    async def post(self, post: Post) -> tuple[Stored, dict]:
        """Store one message with whatever else is waiting; its result and, if new, its frame."""
        future = asyncio.get_running_loop().create_future()
        self._posts.append((post, future))
        self._start()
        return await future

    def delivered(self, conversation_id: int, seq: int) -> None:
        """Note that a message reached the other side (written with the next batch)."""
        self._delivered.add((conversation_id, seq))
        self._start()

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._posts or self._delivered:
                if self._posts:
                    batch, self._posts = self._posts[:MAX_BATCH], self._posts[MAX_BATCH:]
                    await self._store(batch)
                if self._delivered:
                    marks, self._delivered = sorted(self._delivered), set()
                    try:
                        await database_sync_to_async(services.messages_delivered)(marks)
                    except Exception:
                        # Only a delivery time is lost; the messages are stored and shown.
                        logger.exception("chat: %d delivery marks not written", len(marks))
        finally:
            self._task = None

    async def _store(self, batch: list[tuple[Post, asyncio.Future]]) -> None:
        try:
            outcomes = await database_sync_to_async(_store_with_frames)([p for p, _f in batch])
        except DatabaseError:
            # Nothing of the batch is stored (one transaction): every sender gets an error
            # instead of an ack, and its client sends the message again with the same id.
            logger.exception("chat: a batch of %d messages was not stored", len(batch))
            failed = ApplicationError(
                _("The message could not be stored; it will be sent again."), code="unavailable"
            )
            outcomes = [(failed, {})] * len(batch)
        except Exception as exc:
            # A fault of the code, not of the database: every waiting consumer fails with it
            # (its socket closes with 1011 and the error is logged) instead of waiting forever.
            for _post, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_post, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # its consumer may have gone meanwhile
                future.set_result(outcome)


def _store_with_frames(posts: list[Post]) -> list[tuple[Stored, dict]]:
    """Store the batch, then build the frames of its new messages (database thread)."""
    results = services.messages_post_many(posts)
    with_files = [
        r[0]
        for p, r in zip(posts, results, strict=True)
        if p.attachment_ids and not isinstance(r, ApplicationError) and r[1]
    ]
    if with_files:
        prefetch_related_objects(with_files, "attachments")
    outcomes: list[tuple[Stored, Any]] = []
    for post, result in zip(posts, results, strict=True):
        if isinstance(result, ApplicationError) or not result[1]:
            outcomes.append((result, {}))
        else:
            # No files named: no query for them (the others' are prefetched above).
            files = None if post.attachment_ids else []
            outcomes.append((result, message_frame(result[0], files=files)))
    return outcomes
