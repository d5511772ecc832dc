"""The Redis channel layer (servicedesk/channel_layers.py) against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer as PlainLayer
from django.conf import settings

pytestmark = pytest.mark.redis


def _layer(cls=None):
    layer = get_channel_layer()
    if cls is None:
        return layer
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    return cls(**config)


def test_an_idle_consumer_outlives_the_layers_blocking_wait():
    """A consumer waiting on the layer must not fail after the 5 s blocking pop (1011 before)."""

    async def wait() -> str:
        layer = _layer()
        channel = await layer.new_channel()
        try:
            await asyncio.wait_for(layer.receive(channel), timeout=7)
        except TimeoutError:
            return "still waiting"  # asyncio's timeout: the layer itself never failed
        return "received"

    assert asyncio.run(wait()) == "still waiting"


async def _storm(layer, sockets: int) -> int:
    channels = [f"{await layer.new_channel()}" for _ in range(sockets)]
    try:
        await asyncio.gather(*(layer.group_add("storm", c) for c in channels))
        await layer.group_send("storm", {"type": "hello"})
        received = await asyncio.gather(
            *(asyncio.wait_for(layer.receive(c), timeout=10) for c in channels[:5])
        )
        return len(received)
    finally:
        await asyncio.gather(*(layer.group_discard("storm", c) for c in channels))


def test_a_burst_of_sockets_waits_for_a_pooled_connection_instead_of_failing():
    """400 sockets joining at once: more than the pool's connections, yet none fails."""
    assert asyncio.run(_storm(_layer(), 400)) == 5


def test_the_plain_layer_fails_the_same_burst():
    """The reason for the pool: channels_redis's own pool gives up ("Too many connections")."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    with pytest.raises(RedisConnectionError, match="Too many connections"):
        asyncio.run(_storm(_layer(PlainLayer), 400))
