"""Counting requests per key in the cache, for the forms that send mail to strangers."""

from __future__ import annotations

from django.core.cache import cache


def over_limit(key: str, limit: int, *, seconds: int = 3600, on_outage: bool = False) -> bool:
    """Count one more for `key` in the current window; True once past `limit`.

    A cache outage answers `on_outage`: by default False, the request goes through
    (throttling must not stop a customer); a caller for whom "over the limit" only means doing
    less (writing no audit event for an anonymous refusal) passes True.
    """
    try:
        cache.add(key, 0, timeout=seconds)
        return cache.incr(key) > limit
    except Exception:
        return on_outage


def forget(key: str) -> None:
    """Drop a counter (an erased person's). A cache outage leaves it to expire by itself: it
    holds a count under a blind index, no personal data."""
    try:
        cache.delete(key)
    except Exception:
        return
