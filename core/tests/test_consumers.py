"""Every WebSocket consumer reads its frames through one base, core.consumers.FrameConsumer."""

from __future__ import annotations

from core.consumers import FrameConsumer


def routed_consumers() -> list[type]:
    from servicedesk.routing import websocket_urlpatterns

    return [p.callback.consumer_class for p in websocket_urlpatterns]


def test_every_socket_route_reads_frames_through_the_one_base():
    """Decoding untrusted frames and answering bad ones is one concern in one home: every
    routed consumer inherits FrameConsumer and none decodes or receives raw frames itself."""
    consumers = routed_consumers()
    assert len(consumers) >= 3
    for consumer in consumers:
        assert issubclass(consumer, FrameConsumer), consumer
        for name in ("decode_json", "receive"):
            owners = [k for k in consumer.__mro__ if name in vars(k)]
            assert owners[0] is FrameConsumer, (consumer, name, owners[0])


def test_a_frame_bucket_allows_bursts_of_twice_its_rate_and_refills_over_time(monkeypatch):
    from core import consumers

    clock = [100.0]
    monkeypatch.setattr(consumers.time, "monotonic", lambda: clock[0])
    bucket = consumers.FrameBucket(5.0)
    assert [bucket.take() for _ in range(11)] == [True] * 10 + [False]
    clock[0] += 0.2  # one frame's worth of time at 5 a second
    assert bucket.take() is True
    assert bucket.take() is False
    clock[0] += 60  # a long pause refills to the burst, never beyond it
    assert sum(bucket.take() for _ in range(15)) == 10
