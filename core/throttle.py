"""Counting requests per key in the cache, for the forms that send mail to strangers."""

from __future__ import annotations

from core import softcache


def over_limit(key: str, limit: int, *, seconds: int = 3600, on_outage: bool = False) -> bool:
    """Count one more for `key` in the current window; True once past `limit`.

    A cache outage answers `on_outage`: by default False, the request goes through
    (throttling must not stop a customer); a caller for whom "over the limit" only means doing
    less (writing no audit event for an anonymous refusal) passes True.
    """
    counted = softcache.count(key, seconds=seconds)
    if counted is None:
        return on_outage
    return counted > limit


def forget(key: str) -> None:
    """Drop a counter (an erased person's). A cache outage leaves it to expire by itself: it
    holds a count under a blind index, no personal data."""
    softcache.delete(key)
