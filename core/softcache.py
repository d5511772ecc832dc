"""The shared cache for callers that can do without it: an outage is a miss, never an error.

The cache (Redis) holds only what can be rebuilt or lost (summaries, throttle counters), so
with Redis down the status page is built from the database, throttles let requests through
and nothing answers 500. One place catches the cache's errors and logs them (by type only: a
key may hold a blind index).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache

log = logging.getLogger(__name__)
MISSING = object()


def _down(what: str, exc: Exception) -> None:
    log.warning("cache unavailable for %s (%s)", what, type(exc).__name__)


def get(key: str, default: Any = None) -> Any:
    try:
        return cache.get(key, default)
    except Exception as exc:
        _down("get", exc)
        return default


def set(key: str, value: Any, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception as exc:
        _down("set", exc)


def delete(key: str) -> None:
    try:
        cache.delete(key)
    except Exception as exc:
        _down("delete", exc)


def _redis(key: str) -> Any:
    """The Redis client behind Django's RedisCache for `key`, or None for another backend."""
    inner = getattr(cache, "_cache", None)
    get_client = getattr(inner, "get_client", None)
    if get_client is None or not hasattr(cache, "make_and_validate_key"):
        return None
    return get_client(key, write=True)


def count(key: str, *, seconds: int) -> int | None:
    """Add one to a counter that lives `seconds` from its first count; None when the cache is
    down (the caller decides what an unknown count means).

    On Redis one pipelined round trip: INCR, then EXPIRE ... NX (sets the lifetime on the
    first count only, so the window does not slide). Elsewhere add + incr.
    """
    try:
        client = _redis(key)
        if client is not None:
            full = cache.make_and_validate_key(key)
            pipe = client.pipeline(transaction=False)
            pipe.incr(full)
            pipe.expire(full, seconds, nx=True)
            value, _set = pipe.execute()
            return int(value)
        cache.add(key, 0, timeout=seconds)
        try:
            return cache.incr(key)
        except ValueError:  # evicted between add and incr: this is its first count again
            cache.set(key, 1, timeout=seconds)
            return 1
    except Exception as exc:
        _down("count", exc)
        return None


def add(key: str, value: Any, timeout: int) -> bool | None:
    """Set `key` unless it exists: True if this call set it, False if it was there, None when
    the cache is down."""
    try:
        return cache.add(key, value, timeout=timeout)
    except Exception as exc:
        _down("add", exc)
        return None
