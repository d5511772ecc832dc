"""The Redis channel layer: channels_redis's pub/sub layer, tuned for the chat.

Why pub/sub and not channels_redis's default (list-based) layer. The chat benchmark
(docs/performance.md, Chat) found three faults in the default layer with redis-py 8:
- a process receives for all its consumers through one BZPOPMIN loop, one message per round
  trip (plus a cleanup script and a backup write each): one server delivered about 280
  chat messages a second however idle its CPU was;
- its 5 s blocking wait raced redis-py's 5 s read timeout, so an idle socket closed with 1011;
- its connection pool holds at most 100 connections and raised "Too many connections" when
  hundreds of sockets joined at once (a reconnect storm).
The pub/sub layer keeps one subscription connection per process and fans a group message out
in the process; nothing blocks on the server side.

What pub/sub gives up, and why the chat does not mind: a message published while a process is
not subscribed (Redis restarting) is lost, where the list layer would keep it for a minute.
The chat never relies on the layer for delivery: every message is stored before it is
acknowledged, and a client that sees a gap in the numbers, or learns from a "pong" that the
conversation has moved on, asks to "resume" and gets every stored message it missed
(docs/chat-protocol.md).

Tuning here: publishes run concurrently over a pool of connections (channels_redis makes
every publish of a process wait for the one before it), and the pool makes a caller wait for
a free connection instead of failing. Tested against real Redis in
servicedesk/tests/test_channel_layers.py.
"""

from __future__ import annotations

import asyncio

from channels_redis.pubsub import RedisPubSubChannelLayer as _PubSubLayer
from channels_redis.pubsub import RedisPubSubLoopLayer as _LoopLayer
from channels_redis.pubsub import RedisSingleShardConnection as _Shard
from channels_redis.utils import _wrap_close, decode_hosts
from redis import asyncio as aioredis

POOL_SIZE = 50
POOL_WAIT_SECONDS = 20


class _PooledShard(_Shard):
    async def publish(self, channel, message):
        if self._redis is None:
            async with self._lock:
                self._ensure_redis()
        await self._redis.publish(channel, message)

    def _ensure_redis(self):
        if self._redis is None:
            host = dict(self.host)
            address = host.pop("address")
            pool = aioredis.BlockingConnectionPool.from_url(
                address, max_connections=POOL_SIZE, timeout=POOL_WAIT_SECONDS, **host
            )
            self._redis = aioredis.Redis(connection_pool=pool)
            self._pubsub = self._redis.pubsub()


class _Named:
    """What channels_redis's group channel name reads of its layer: the prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix


class _LoopLayerWithPool(_LoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shards = [_PooledShard(shard.host, self) for shard in self._shards]


class RedisChannelLayer(_PubSubLayer):
    """The layer of settings.CHANNEL_LAYERS when REDIS_URL is set (hosts given as URLs)."""

    def publish_address(self) -> str | None:
        """The Redis URL every group's messages are published on (None with several hosts:
        channels_redis picks a host per group)."""
        hosts = decode_hosts(self._kwargs.get("hosts"))
        return hosts[0].get("address") if len(hosts) == 1 else None

    def publish_args(self, group: str, message: dict) -> tuple[str, bytes]:
        """The channel and payload of the PUBLISH that `group_send(group, message)` sends,
        for a sync caller that sends it in its own Redis pipeline (core.queue.batched:
        after a commit, with the Celery hand-over, in one round trip)."""
        prefix = self._kwargs.get("prefix", "asgi")
        return _LoopLayer._get_group_channel_name(_Named(prefix), group), self.serialize(message)

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            layer = self._layers[loop]
        except KeyError:
            layer = _LoopLayerWithPool(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer
