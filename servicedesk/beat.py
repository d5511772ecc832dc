"""The beat scheduler that refuses to be the second one.

django-celery-beat's DatabaseScheduler, holding core.leader's lock: a beat started while
another holds it waits (logging once) and takes over when the first is gone; a beat that loses
the lock (its lock connection dropped, e.g. a database restart) stops sending until it holds
it again, so two beats never send at once. Deployments still run exactly one
(docs/operations.md); this makes a second one harmless.
"""

from __future__ import annotations

import logging
import time

from django_celery_beat.schedulers import DatabaseScheduler

from core.leader import Leadership

log = logging.getLogger(__name__)

LOCK_NAME = "celery-beat"
# How often a waiting beat asks for the lock again.
WAIT_SECONDS = 5.0


class SingleBeatScheduler(DatabaseScheduler):
    _leadership: Leadership | None = None

    def setup_schedule(self):
        # Not in __init__: celery builds a lazy scheduler only to print its start-up banner
        # (never set up, never closed); it must not take the lock from the real one.
        self._leadership = Leadership(LOCK_NAME)
        self._wait_for_lock()
        super().setup_schedule()

    def _wait_for_lock(self) -> None:
        told = False
        while not self._leadership.acquire():
            if not told:
                log.warning("another beat holds the lock; this one waits to take over")
                told = True
            time.sleep(WAIT_SECONDS)
        if told:
            log.warning("beat lock taken over: this beat now schedules")

    def tick(self, *args, **kwargs):
        lock = self._leadership
        if lock is None or (not lock.held() and not lock.acquire()):
            log.warning("beat lock lost; not scheduling until it is held again")
            return WAIT_SECONDS
        return super().tick(*args, **kwargs)

    def close(self):
        try:
            super().close()
        finally:
            if self._leadership is not None:
                self._leadership.release()
