"""The batched after-commit hand-over (core.queue.batched): tasks and live events that a
block's commits hand over leave together when it ends, in one Redis round trip when the
broker and the channel layer share the server, and never for a rolled-back write."""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace
from unittest import mock

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction

from core import queue, realtime

TASK = "notifications.deliver_outbox_many"


@pytest.mark.django_db(transaction=True)
def test_what_the_commits_hand_over_leaves_when_the_block_ends(monkeypatch):
    # One by one (as without Redis): the order and timing are what the batch changes.
    monkeypatch.setattr(queue, "_one_redis_for_both", lambda events: False)
    sent = []
    monkeypatch.setattr(queue, "send_now", lambda task, *args: sent.append((task, args)))
    monkeypatch.setattr(realtime, "publish_now", lambda group, event: sent.append((group,)))
    with queue.batched():
        with transaction.atomic():
            queue.enqueue_on_commit(TASK, [1])
            realtime.publish_on_commit("test.kept", {"type": "t"})
            try:
                with transaction.atomic():
                    queue.enqueue_on_commit(TASK, [2])
                    realtime.publish_on_commit("test.rolled-back", {"type": "t"})
                    raise RuntimeError("the savepoint rolls back")
            except RuntimeError:
                pass
        assert sent == []  # committed, held until the block ends
    assert sent == [(TASK, ([1],)), ("test.kept",)]


@pytest.mark.django_db(transaction=True)
def test_outside_a_block_and_for_an_enclosing_commit_it_leaves_at_once(monkeypatch):
    sent = []
    monkeypatch.setattr(queue, "send_now", lambda task, *args: sent.append(args))
    with transaction.atomic():
        with queue.batched():
            queue.enqueue_on_commit(TASK, [1])  # the commit comes after the block
        assert sent == []
    assert sent == [([1],)]
    queue.enqueue_on_commit(TASK, [2])  # no transaction: at once
    assert sent == [([1],), ([2],)]


@pytest.mark.django_db(transaction=True)
def test_a_block_that_raises_after_its_commit_still_hands_over(monkeypatch):
    monkeypatch.setattr(queue, "_one_redis_for_both", lambda events: False)
    sent = []
    monkeypatch.setattr(queue, "send_now", lambda task, *args: sent.append(args))
    with pytest.raises(RuntimeError), queue.batched():
        with transaction.atomic():
            queue.enqueue_on_commit(TASK, [1])
        raise RuntimeError("after the commit")
    assert sent == [([1],)]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_tasks_and_events_go_in_one_redis_round_trip(settings):
    import redis
    from celery import current_app

    from servicedesk.channel_layers import RedisChannelLayer

    # Published to the broker as in production (the tests' fixture runs tasks in-process;
    # it puts its setting back after the test).
    current_app.conf.task_always_eager = False

    subscriber = RedisChannelLayer(
        hosts=[settings.REDIS_URL], prefix=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    )
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue_key = current_app.conf.task_default_queue
    queue.reset_breaker()
    queue._resolve(TASK)  # the task modules imported before counting

    def hand_over() -> tuple[int, list, list]:
        real_pipeline_execute = redis.client.Pipeline.execute
        real_execute_command = redis.client.Redis.execute_command
        pipelines, commands = [], []

        def counting_execute(self, *args, **kwargs):
            pipelines.append([c[0][0] for c in self.command_stack])
            return real_pipeline_execute(self, *args, **kwargs)

        def counting_command(self, *args, **kwargs):
            commands.append(args[0])
            return real_execute_command(self, *args, **kwargs)

        before = broker.llen(queue_key)
        with (
            mock.patch.object(redis.client.Pipeline, "execute", counting_execute),
            mock.patch.object(redis.client.Redis, "execute_command", counting_command),
            mock.patch.object(realtime, "publish_now") as publish_now,
            queue.batched(),
            transaction.atomic(),
        ):
            queue.enqueue_on_commit(TASK, [0])
            realtime.publish_on_commit("test.handover", {"type": "t.one", "n": 1})
            realtime.publish_on_commit("test.handover", {"type": "t.two", "n": 2})
        assert not publish_now.called
        pushed = broker.llen(queue_key) - before
        message = json.loads(broker.lpop(queue_key))  # ours, the newest: no worker runs
        assert message["headers"]["task"] == TASK
        return pushed, commands, pipelines

    async def subscribe_and_receive():
        channel = await subscriber.new_channel()
        await subscriber.group_add("test.handover", channel)
        # The first publish of a process declares the queue (once): the second is the
        # steady state of every write.
        results = [await sync_to_async(hand_over)() for _ in range(2)]
        got = [await subscriber.receive(channel) for _ in range(4)]
        await subscriber.flush()
        return results[-1], got[2:]

    (pushed, direct_commands, pipelines), got = async_to_sync(subscribe_and_receive)()
    assert pushed == 1
    assert direct_commands == []
    assert pipelines == [["LPUSH", "PUBLISH", "PUBLISH"]]  # one round trip
    assert got == [{"type": "t.one", "n": 1}, {"type": "t.two", "n": 2}]


class _Pipeline:
    def __init__(self):
        self.published = []

    def publish(self, *arguments):
        self.published.append(arguments)


class _Producer:
    """A producer as kombu's, with or without the batch API, whose flush may fail."""

    def __init__(self, *, batch=True, fail=None):
        self.pipeline = _Pipeline()
        self.applied = []
        self.fail = fail
        if not batch:
            self.batch = None

    @contextlib.contextmanager
    def batch(self, size):
        yield SimpleNamespace(
            state=SimpleNamespace(session=SimpleNamespace(pipeline=self.pipeline))
        )
        if self.fail:
            raise self.fail


class _Task:
    name = TASK

    def __init__(self, producer):
        self.producer = producer

    def apply_async(self, *, args, kwargs, retry, producer):
        producer.applied.append(args)


class _Layer:
    def publish_args(self, group, event):
        if group == "test.unencodable":
            raise TypeError("cannot encode")
        return (group, json.dumps(event))


@pytest.fixture
def batch_without_redis(monkeypatch):
    """The batched path with a fake producer and layer: what went in the batch, and what
    went one by one."""
    from celery import current_app

    state = SimpleNamespace(producer=_Producer(), one_by_one=[], published=[])
    monkeypatch.setattr(queue, "_one_redis_for_both", lambda events: True)
    monkeypatch.setattr(queue, "_resolve", lambda task: _Task(state.producer))
    monkeypatch.setattr(
        current_app, "producer_or_acquire", lambda: contextlib.nullcontext(state.producer)
    )
    monkeypatch.setattr("channels.layers.get_channel_layer", lambda: _Layer())
    monkeypatch.setattr(queue, "send_now", lambda task, *args: state.one_by_one.append(args))
    monkeypatch.setattr(realtime, "publish_now", lambda group, event: state.published.append(group))
    monkeypatch.setattr(queue, "_broker_down_until", 0.0)
    return state


def _hand_over(*events):
    with queue.batched():
        queue.enqueue_on_commit(TASK, [1])
        for group in events:
            realtime.publish_on_commit(group, {"type": "t"})


@pytest.mark.django_db(transaction=True)
def test_a_kombu_without_the_batch_api_sends_one_by_one(batch_without_redis):
    state = batch_without_redis
    state.producer = _Producer(batch=False)
    _hand_over("test.kept")
    assert state.one_by_one == [([1],)] and state.published == ["test.kept"]
    assert not queue.broker_marked_down()


@pytest.mark.django_db(transaction=True)
def test_an_event_the_layer_cannot_encode_goes_alone_and_costs_the_others_nothing(
    batch_without_redis,
):
    state = batch_without_redis
    _hand_over("test.kept", "test.unencodable")
    assert state.producer.applied == [([1],)] and state.one_by_one == []
    assert [group for group, _payload in state.producer.pipeline.published] == ["test.kept"]
    assert state.published == ["test.unencodable"]


@pytest.mark.django_db(transaction=True)
def test_only_a_lost_connection_marks_the_broker_down(batch_without_redis):
    state = batch_without_redis
    state.producer = _Producer(fail=RuntimeError("a library's surprise"))
    _hand_over("test.kept")
    assert state.one_by_one == [([1],)]  # sent again one by one
    assert not queue.broker_marked_down()
    state.producer = _Producer(fail=ConnectionError("redis went away"))
    state.one_by_one.clear()
    _hand_over("test.kept")
    assert state.one_by_one == []  # left for the sweep
    assert queue.broker_marked_down()
    assert state.published[-1] == "test.kept"  # the events do not depend on the broker
