"""The report of chat waits and abandoned chats: the figures, the region scope, the period's
bounds, the same queries for one chat and a thousand, and the moment an agent takes a chat."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from accounts.models import Region
from chat import presence, report_selectors, services
from chat.models import ConversationStatus
from core import reports
from core.reports import DAY, WEEK, Filters, Period

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSED, ACTIVE, WAITING = (
    ConversationStatus.CLOSED,
    ConversationStatus.ACTIVE,
    ConversationStatus.WAITING,
)


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


MARCH_2_3 = Period(start=at(2026, 3, 2), end=at(2026, 3, 4), bucket=DAY)


@pytest.fixture
def desk(queue_setup, make_customer, make_org):
    queue, supervisor, agents = queue_setup
    east = make_customer(make_org(region="east"))
    north = make_customer(make_org(region="north"))
    return {"queue": queue, "agent": agents[0], "east": east, "north": north, "viewer": supervisor}


def chat(desk, created, *, who="east", wait=None, agent=True, status=CLOSED, queue=True):
    customer = desk[who]
    return {
        "organisation": customer.organisation,
        "customer": customer,
        "queue": desk["queue"] if queue else None,
        "created_at": created,
        "accepted_at": created + wait if wait is not None else None,
        "agent": desk["agent"] if agent else None,
        "status": status,
    }


@pytest.fixture
def chats(desk, make_chats):
    """On 2 March: taken after 4.2 min, taken after 10 min, abandoned; on 3 March (07:30 in
    Shanghai, still 2 March in UTC): one taken before waits were recorded, one still waiting
    without a queue. A northern customer's abandoned chat, and chats just outside the period."""
    minutes = lambda m: dt.timedelta(minutes=m)  # noqa: E731
    return make_chats(
        [
            chat(desk, at(2026, 3, 2, 9, 0), wait=dt.timedelta(minutes=4, seconds=12)),
            chat(desk, at(2026, 3, 2, 10, 0), wait=minutes(10), status=ACTIVE),
            chat(desk, at(2026, 3, 2, 11, 0), agent=False),
            chat(desk, at(2026, 3, 3, 7, 30)),
            chat(desk, at(2026, 3, 3, 9, 30), agent=False, status=WAITING, queue=False),
            chat(desk, at(2026, 3, 2, 12, 0), who="north", agent=False),
            chat(desk, at(2026, 3, 1, 23, 59), wait=minutes(30)),
            chat(desk, at(2026, 3, 4, 0, 0), wait=minutes(30)),
        ]
    )


def compute(desk, period=MARCH_2_3, regions=None):
    report = reports.get("chat-waits")
    trend, queues = report.compute(desk["viewer"], Filters(period=period, region_ids=regions))
    return trend, queues


def figures(row):
    return {key: value for key, value in row.items() if key not in ("bucket", "queue")}


def east_ids():
    return [Region.objects.get(code="east").pk]


def test_the_report_is_registered_for_the_chat_and_phone_group():
    report = reports.get("chat-waits")
    assert report is not None and report.compute is report_selectors.compute
    assert str(report.group) == "Chat and phone"


def test_waits_and_abandoned_chats_per_day_of_the_chosen_region(desk, chats):
    trend, queues = compute(desk, regions=east_ids())
    assert [row["bucket"] for row in trend.rows] == [dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
    assert figures(trend.rows[0]) == {
        "conversations": 3,
        "answered": 2,
        "abandoned": 1,
        "abandoned_pct": 33.3,
        "avg_wait": 7.1,
        "longest_wait": 10.0,
    }
    # The chat at 07:30 in Shanghai counts on 3 March; its wait was never recorded.
    assert figures(trend.rows[1]) == {
        "conversations": 2,
        "answered": 1,
        "abandoned": 0,
        "abandoned_pct": 0.0,
        "avg_wait": None,
        "longest_wait": None,
    }
    assert [(row["queue"], row["conversations"]) for row in queues.rows] == [
        ("East handheld", 4),
        ("No queue", 1),
    ]
    assert figures(queues.rows[0]) == {
        "conversations": 4,
        "answered": 3,
        "abandoned": 1,
        "abandoned_pct": 25.0,
        "avg_wait": 7.1,
        "longest_wait": 10.0,
    }
    assert trend.note and trend.chart.series == ["avg_wait", "longest_wait"]


def test_every_region_counts_the_northern_chat_too(desk, chats):
    trend, _queues = compute(desk, regions=None)
    assert trend.rows[0]["conversations"] == 4
    assert trend.rows[0]["abandoned"] == 2 and trend.rows[0]["abandoned_pct"] == 50.0


def test_a_foreign_region_sees_none_of_these_chats_and_no_region_sees_nothing(desk, chats):
    south = [Region.objects.get(code="south").pk]
    trend, queues = compute(desk, regions=south)
    # Nothing to show: the empty text, not a line of zeros.
    assert trend.rows == [] and queues.rows == []
    trend, queues = compute(desk, regions=[])
    assert trend.rows == [] and queues.rows == []


def test_the_period_includes_its_start_and_excludes_its_end(desk, chats):
    trend, _queues = compute(
        desk, period=Period(start=at(2026, 3, 1, 23, 59), end=at(2026, 3, 4, 0, 1), bucket=WEEK)
    )
    # 1 March is a Sunday: two weeks, the first with the chat at 23:59.
    assert [(row["bucket"], row["conversations"]) for row in trend.rows] == [
        (dt.date(2026, 2, 23), 1),
        (dt.date(2026, 3, 2), 7),
    ]


def test_queue_names_in_chinese_for_a_chinese_reader(desk, chats):
    desk["queue"].name_zh = "华东手持"
    desk["queue"].save()
    with translation.override("zh-hans"):
        _trend, queues = compute(desk, regions=east_ids())
    assert queues.rows[0]["queue"] == "华东手持"


@pytest.mark.parametrize("regions", [None, "east"])
def test_one_chat_or_a_thousand_cost_the_same_queries(desk, make_chats, regions):
    regions = east_ids() if regions else None
    start = at(2026, 3, 2, 8, 0)

    def counted():
        with CaptureQueriesContext(connection) as queries:
            trend, queues = compute(desk, regions=regions)
        return len(queries), trend, queues

    make_chats([chat(desk, start, wait=dt.timedelta(minutes=2))])
    one, trend, _queues = counted()
    assert trend.rows[0]["conversations"] == 1
    make_chats(
        [
            chat(desk, start + dt.timedelta(minutes=i), wait=dt.timedelta(minutes=i % 7))
            for i in range(999)
        ]
    )
    thousand, trend, queues = counted()
    assert sum(row["conversations"] for row in trend.rows) == 1000
    assert queues.rows[0]["conversations"] == 1000
    assert one == thousand == 2


@pytest.fixture
def open_chat(make_customer, make_unit, queue_setup):
    customer = make_customer()
    return services.conversation_open(customer=customer, unit=make_unit(customer.organisation))


def test_accepting_a_chat_records_when_the_wait_ended_and_a_transfer_keeps_it(
    open_chat, queue_setup
):
    agents = queue_setup[2]
    assert open_chat.status == WAITING and open_chat.accepted_at is None
    before = timezone.now()
    presence.conversation_accept(conversation=open_chat, agent=agents[0])
    open_chat.refresh_from_db()
    assert before <= open_chat.accepted_at <= timezone.now()
    accepted = open_chat.accepted_at
    presence.conversation_transfer(conversation=open_chat, to_agent=agents[1], actor=agents[0])
    open_chat.refresh_from_db()
    assert open_chat.agent_id == agents[1].pk and open_chat.accepted_at == accepted


def test_routing_a_waiting_chat_to_an_agent_records_when_the_wait_ended(open_chat, queue_setup):
    presence.presence_beat(agent=queue_setup[2][0])
    open_chat.refresh_from_db()
    assert open_chat.status == ACTIVE and open_chat.accepted_at is not None
    assert open_chat.accepted_at >= open_chat.created_at


def test_a_chat_closed_before_anyone_took_it_is_abandoned_with_no_wait(
    open_chat, queue_setup, desk
):
    services.conversation_close(conversation=open_chat, actor=open_chat.customer)
    open_chat.refresh_from_db()
    assert open_chat.accepted_at is None
    day = timezone.localtime(open_chat.created_at).date()
    start = dt.datetime.combine(day, dt.time(), tzinfo=timezone.get_current_timezone())
    period = Period(start=start, end=start + dt.timedelta(days=1))
    trend, _queues = compute(desk, period=period)
    assert figures(trend.rows[0])["abandoned"] == 1
    assert figures(trend.rows[0])["avg_wait"] is None
