"""The Redis channel layer, hardened against two faults the chat benchmark found.

1. channels_redis waits for a consumer's next message with BZPOPMIN for `brpop_timeout`
   seconds (5) and then asks again. redis-py 8 gives every read a 5 s socket timeout by
   default, so an idle consumer's wait raced its own read timeout and the socket closed with
   1011 after 5 s of silence. The wait is now well inside the read timeout: an idle process
   asks Redis again every 2 s.
2. redis-py 8's connection pool holds at most 100 connections and raises "Too many
   connections" beyond that, so a burst of sockets (a reconnect storm after a deploy, 1,000
   clients at once) failed their group_add with 1011. The pool now makes a caller wait (up to
   POOL_WAIT_SECONDS) for a free connection instead.

Both are tested against real Redis in servicedesk/tests/test_channel_layers.py.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer
from redis.asyncio import BlockingConnectionPool

POOL_SIZE = 100
POOL_WAIT_SECONDS = 20


class RedisChannelLayer(_RedisChannelLayer):
    brpop_timeout = 2

    def create_pool(self, index: int):
        host = self.hosts[index]
        if set(host) != {"address"}:  # sentinels or keyword hosts: channels_redis's own pool
            return super().create_pool(index)
        return BlockingConnectionPool.from_url(
            host["address"], max_connections=POOL_SIZE, timeout=POOL_WAIT_SECONDS
        )
