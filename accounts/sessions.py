"""Sessions in the database, read through the shared cache.

Every request reads its session; with sessions in the database alone that is one round trip
on every page. This store keeps the database as the record (so a Redis outage signs nobody
out: a miss or a cache error reads the row) and keeps a copy in the shared cache for at most
CACHE_SECONDS, so a busy agent's clicks read it from Redis.

Ending a session deletes the row and the copy (`forget`, and `delete` on sign-out). One gap
remains and is bounded: a request that read the row just before it was deleted may put the
old copy back in the cache, where it lives CACHE_SECONDS at most. A deactivated account or a
changed password is refused at once whatever the cache holds (the user and the session's
password hash are read from the database on every request: accounts.selectors.signed_in_user).

Django's own cached_db store fails the request when the cache is down (its save and delete
do not catch the cache's errors); this one goes through core.softcache, where an outage is a
miss.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends import db

from core import softcache

CACHE_SECONDS = 60
KEY_PREFIX = "session:"


def _cache_key(session_key: str) -> str:
    return KEY_PREFIX + session_key


def forget(session_keys: list[str]) -> None:
    """Drop the cached copies of sessions whose rows were deleted."""
    for session_key in session_keys:
        softcache.delete(_cache_key(session_key))


class SessionStore(db.SessionStore):
    def load(self):
        key = _cache_key(self._get_or_create_session_key())
        data = softcache.get(key)
        if data is not None:
            return data
        row = self._get_session_from_db()
        if row is None:
            return {}
        data = self.decode(row.session_data)
        seconds = min(CACHE_SECONDS, self.get_expiry_age(expiry=row.expire_date))
        if seconds > 0:
            softcache.set(key, data, timeout=seconds)
        return data

    def exists(self, session_key):
        return softcache.get(_cache_key(session_key)) is not None or super().exists(session_key)

    def save(self, must_create=False):
        super().save(must_create)
        seconds = min(CACHE_SECONDS, self.get_expiry_age())
        softcache.set(_cache_key(self.session_key), self._session, timeout=max(seconds, 1))

    def delete(self, session_key=None):
        super().delete(session_key)
        session_key = session_key or self.session_key
        if session_key is not None:
            softcache.delete(_cache_key(session_key))

    # The async entry points run the same code (Django's would skip the cache).
    async def aload(self):
        return await sync_to_async(self.load)()

    async def aexists(self, session_key):
        return await sync_to_async(self.exists)(session_key)

    async def asave(self, must_create=False):
        await sync_to_async(self.save)(must_create)

    async def adelete(self, session_key=None):
        await sync_to_async(self.delete)(session_key)
