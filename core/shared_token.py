"""Access tokens of outside platforms shared by every process of the desk (WeCom today).

WeCom (and WeChat) hand out an access token valid two hours, limit how often one may be asked
for, and invalidate the previous token when a new one is issued. A token kept in each process
would mean one gettoken call per web process and worker, each new one silently expiring the
others' (their next send fails with 40014 and asks again, and so on). So the token lives in
the shared cache (Redis in production), refreshed a few minutes before it expires, and one
process at a time refreshes it: the others wait a moment for its result instead of asking too.

The cache is a convenience, not a dependency: with the cache down, a process fetches a token
for itself (core.softcache: an outage is a miss) and delivery goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core import softcache

# A token is refreshed this long before the platform says it expires.
MARGIN_SECONDS = 300
# How long another process's refresh is awaited before this one fetches for itself.
WAIT_SECONDS = 5.0
# The refresh lock's own lifetime: a process that died while refreshing holds it no longer.
LOCK_SECONDS = 15


def shared_token(
    key: str, fetch: Callable[[], tuple[str, int]], *, refused: str | None = None
) -> str:
    """The current token of `key`, fetched with `fetch()` -> (token, lifetime in seconds)
    when there is none. `refused`: the token the platform just refused; unless another
    process has replaced it meanwhile, a new one is fetched."""
    cache_key = f"shared-token:{key}"
    token = softcache.get(cache_key)
    if token and token != refused:
        return token
    lock = f"{cache_key}:refresh"
    if softcache.add(lock, 1, timeout=LOCK_SECONDS) is not False:  # ours, or no cache at all
        try:
            # Another process may have refreshed between our miss and our lock (it set the
            # token, then let the lock go): take its token rather than expire it.
            token = softcache.get(cache_key)
            if token and token != refused:
                return token
            token, lifetime = fetch()
            softcache.set(cache_key, token, timeout=max(lifetime - MARGIN_SECONDS, 60))
            return token
        finally:
            softcache.delete(lock)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:  # another process is refreshing: take its token
        time.sleep(0.05)
        token = softcache.get(cache_key)
        if token and token != refused:
            return token
    token, lifetime = fetch()  # it took too long (or died): do without
    softcache.set(cache_key, token, timeout=max(lifetime - MARGIN_SECONDS, 60))
    return token
