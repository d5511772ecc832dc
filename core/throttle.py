"""Counting requests per key in the cache, for the forms that send mail to strangers."""

from __future__ import annotations

from core import softcache


def over_limit(key: str, limit: int, *, seconds: int = 3600) -> bool:
    """Count one more for `key` in the current window; True once past `limit`.

    A cache outage lets the request through: throttling must not stop a customer.
    """
    counted = softcache.count(key, seconds=seconds)
    return counted is not None and counted > limit


def forget(key: str) -> None:
    """Drop a counter (an erased person's). A cache outage leaves it to expire by itself: it
    holds a count under a blind index, no personal data."""
    softcache.delete(key)
