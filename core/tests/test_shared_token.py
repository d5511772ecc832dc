"""The shared token: one fetch for every process, even when a refresh ends between a miss and
the lock."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from core import shared_token as module
from core import softcache


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_token_is_fetched_once_and_then_shared():
    fetched = []

    def fetch():
        fetched.append(1)
        return f"token-{len(fetched)}", 7200

    assert module.shared_token("demo", fetch) == "token-1"
    assert module.shared_token("demo", fetch) == "token-1"
    assert fetched == [1]


def test_a_refresh_finished_between_the_miss_and_the_lock_is_taken_not_repeated(monkeypatch):
    """Process A misses, process B fetches, stores and lets the lock go, then A takes the lock:
    A must use B's token, since fetching again would expire it."""
    real_add = softcache.add

    def add_after_another_process_refreshed(key, value, timeout):
        cache.set("shared-token:demo", "token-from-b", 600)  # B stored its token, freed the lock
        return real_add(key, value, timeout=timeout)

    monkeypatch.setattr(softcache, "add", add_after_another_process_refreshed)

    def fetch():
        raise AssertionError("A fetched a second token")

    assert module.shared_token("demo", fetch) == "token-from-b"


def test_a_refused_token_is_replaced():
    cache.set("shared-token:demo", "old", 600)
    assert module.shared_token("demo", lambda: ("new", 7200), refused="old") == "new"
    assert cache.get("shared-token:demo") == "new"
