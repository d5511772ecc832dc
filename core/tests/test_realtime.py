"""Real-time events from sync code: one loop per process, delivery through Redis, failures."""

from __future__ import annotations

import threading

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from core import realtime


@pytest.mark.redis
def test_events_reach_a_subscriber_through_redis_on_one_reused_loop(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    from servicedesk.channel_layers import RedisChannelLayer

    # The subscriber is another client of the same Redis, like a Daphne process would be.
    subscriber = RedisChannelLayer(
        hosts=[settings.REDIS_URL], prefix=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    )

    async def subscribe_publish_receive():
        channel = await subscriber.new_channel()
        await subscriber.group_add("test.realtime", channel)
        sent = [
            await sync_to_async(realtime.publish_now)("test.realtime", {"type": "t.one", "n": 1}),
            await sync_to_async(realtime.publish_now)("test.realtime", {"type": "t.two", "n": 2}),
        ]
        got = [await subscriber.receive(channel), await subscriber.receive(channel)]
        await subscriber.flush()
        return sent, got

    sent, (first, second) = async_to_sync(subscribe_publish_receive)()
    assert sent == [True, True]
    assert [first["n"], second["n"]] == [1, 2]
    publishers = [t for t in threading.enumerate() if t.name == "welddesk-realtime"]
    assert len(publishers) == 1  # the loop (and its Redis pool) is reused


def test_an_unreachable_layer_is_reported_not_raised(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "servicedesk.channel_layers.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    assert realtime.publish_now("test.realtime", {"type": "t.lost"}) is False


def test_in_memory_layer_delivers_in_the_callers_loop(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("test.memory", channel)
    assert realtime.publish_now("test.memory", {"type": "t.mem", "n": 3})
    assert async_to_sync(layer.receive)(channel)["n"] == 3
