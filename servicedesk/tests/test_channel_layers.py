"""The Redis channel layer (servicedesk/channel_layers.py) against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from servicedesk import channel_layers

pytestmark = pytest.mark.redis


def test_the_desk_uses_the_pooled_pub_sub_layer():
    assert isinstance(get_channel_layer(), channel_layers.RedisChannelLayer)


def test_an_idle_consumer_outlives_redis_pys_read_timeout():
    """A consumer waiting 7 s on the layer must not fail (the list layer's did after 5 s)."""

    async def wait() -> str:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        try:
            await asyncio.wait_for(layer.receive(channel), timeout=7)
        except TimeoutError:
            return "still waiting"  # asyncio's timeout: the layer itself never failed
        finally:
            await layer.flush()
        return "received"

    assert asyncio.run(wait()) == "still waiting"


async def _burst(sockets: int, messages: int) -> tuple[int, list[int]]:
    """`sockets` channels join one group at once; `messages` group sends go out at once."""
    layer = get_channel_layer()
    try:
        channels = [await layer.new_channel() for _ in range(sockets)]
        await asyncio.gather(*(layer.group_add("burst", c) for c in channels))
        await asyncio.gather(
            *(layer.group_send("burst", {"type": "hello", "n": n}) for n in range(messages))
        )
        first = [await asyncio.wait_for(layer.receive(channels[0]), 10) for _ in range(messages)]
        last = [await asyncio.wait_for(layer.receive(channels[-1]), 10) for _ in range(messages)]
        return len(last), sorted(m["n"] for m in first)
    finally:
        await layer.flush()


def test_a_burst_of_sockets_and_sends_is_delivered_not_refused():
    """More concurrent sends than pooled connections: they wait for one, none fails."""
    sends = channel_layers.POOL_SIZE * 4
    received_last, numbers = asyncio.run(_burst(300, sends))
    assert received_last == sends
    assert numbers == list(range(sends))


def test_the_pool_is_the_reason_a_burst_does_not_fail(monkeypatch):
    """Without the waiting pool (redis-py's own, at most POOL_SIZE), the same burst fails."""
    from redis import asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError

    monkeypatch.setattr(
        channel_layers.aioredis,
        "BlockingConnectionPool",
        type("Plain", (aioredis.ConnectionPool,), {}),
    )

    def plain_from_url(url, *, max_connections, timeout, **kwargs):
        return aioredis.ConnectionPool.from_url(url, max_connections=max_connections, **kwargs)

    monkeypatch.setattr(channel_layers.aioredis.BlockingConnectionPool, "from_url", plain_from_url)
    with pytest.raises(RedisConnectionError, match="Too many connections"):
        asyncio.run(_burst(10, channel_layers.POOL_SIZE * 4))
