"""The hotline answer-rate report: per line and per day, the lines of the chosen regions only
(through their status components), the period's bounds, the same queries for one call and a
thousand, and the desk's threshold as the chart's reference line."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from accounts.models import Region
from core import reports
from core.reports import DAY, MONTH, Filters, Period
from intake import report_selectors

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


MARCH_2_3 = Period(start=at(2026, 3, 2), end=at(2026, 3, 4), bucket=DAY)


def regions(*codes):
    return list(Region.objects.filter(code__in=codes).values_list("pk", flat=True))


def compute(period=MARCH_2_3, region_ids=None):
    report = reports.get("hotline-answer-rate")
    per_line, trend = report.compute(None, Filters(period=period, region_ids=region_ids))
    return per_line, trend


def figures(row):
    return {k: v for k, v in row.items() if k not in ("line", "name", "bucket")}


@pytest.fixture
def calls(components, make_calls):
    """East: answered in 20 s and 40 s, abandoned and ended unanswered on 2 March; answered in
    30 s at 07:30 in Shanghai on 3 March (still 2 March in UTC) and one still ringing. South:
    one abandoned. The line "spare" has no status component. Two east calls fall just outside
    the period."""
    return make_calls(
        [
            ("east", at(2026, 3, 2, 9, 0), 20, "answered"),
            ("east", at(2026, 3, 2, 9, 10), 40, "answered"),
            ("east", at(2026, 3, 2, 9, 20), None, "abandoned"),
            ("east", at(2026, 3, 2, 9, 30), None, "unanswered"),
            ("east", at(2026, 3, 3, 7, 30), 30, "answered"),
            ("east", at(2026, 3, 3, 10, 0), None, "ringing"),
            ("south", at(2026, 3, 2, 10, 0), None, "abandoned"),
            ("spare", at(2026, 3, 2, 11, 0), 10, "answered"),
            ("east", at(2026, 3, 1, 23, 59), 5, "answered"),
            ("east", at(2026, 3, 4, 0, 0), None, "abandoned"),
        ]
    )


def test_the_report_is_registered_beside_the_chat_report():
    report = reports.get("hotline-answer-rate")
    assert report.compute is report_selectors.compute
    assert str(report.group) == "Chat and phone"


def test_answer_rate_per_line_and_per_day_of_the_east_line(calls):
    per_line, trend = compute(region_ids=regions("east"))
    assert [row["line"] for row in per_line.rows] == ["east"]
    assert per_line.rows[0]["name"] == "Hotline East"
    # Three answered of five concluded; the ringing call counts as a call, not in the rate.
    assert figures(per_line.rows[0]) == {
        "calls": 6,
        "answered": 3,
        "missed": 2,
        "answer_rate": 60.0,
        "to_answer": 30.0,
    }
    assert [(row["bucket"], figures(row)) for row in trend.rows] == [
        (
            dt.date(2026, 3, 2),
            {"calls": 4, "answered": 2, "missed": 2, "answer_rate": 50.0, "to_answer": 30.0},
        ),
        (
            dt.date(2026, 3, 3),
            {"calls": 2, "answered": 1, "missed": 0, "answer_rate": 100.0, "to_answer": 30.0},
        ),
    ]


def test_every_region_shows_every_line_and_a_line_without_component_only_there(calls):
    per_line, trend = compute(region_ids=None)
    assert [(row["line"], row["calls"], row["answer_rate"]) for row in per_line.rows] == [
        ("east", 6, 60.0),
        ("south", 1, 0.0),
        ("spare", 1, 100.0),
    ]
    assert per_line.rows[2]["name"] == "" and per_line.rows[2]["to_answer"] == 10.0
    assert trend.rows[0]["calls"] == 6
    per_line, _trend = compute(region_ids=regions("east", "south"))
    assert [row["line"] for row in per_line.rows] == ["east", "south"]


def test_a_foreign_region_sees_no_call_and_no_region_nothing(calls):
    per_line, trend = compute(region_ids=regions("north"))
    # Nothing to show: the empty text, not a line of zeros.
    assert per_line.rows == [] and trend.rows == []
    per_line, trend = compute(region_ids=[])
    assert per_line.rows == [] and trend.rows == []


def test_the_period_includes_its_start_and_excludes_its_end(calls):
    period = Period(start=at(2026, 3, 1, 23, 59), end=at(2026, 3, 4, 0, 0), bucket=MONTH)
    per_line, trend = compute(period=period, region_ids=regions("east"))
    assert per_line.rows[0]["calls"] == 7
    assert [(row["bucket"], row["calls"]) for row in trend.rows] == [(dt.date(2026, 3, 1), 7)]


def test_the_charts_draw_the_desks_answer_rate_threshold(calls, settings):
    per_line, trend = compute()
    assert per_line.chart.target == trend.chart.target == 90.0
    settings.TELEPHONY_ANSWER_RATE_THRESHOLD = 0.85
    per_line, _trend = compute()
    assert per_line.chart.target == 85.0


def test_a_chinese_reader_sees_the_hotlines_chinese_name(calls):
    with translation.override("zh-hans"):
        per_line, _trend = compute(region_ids=regions("east"))
    assert per_line.rows[0]["name"] == "华东热线"


@pytest.mark.parametrize("scope", [None, ("east",)])
def test_one_call_or_a_thousand_cost_the_same_queries(components, make_calls, scope):
    region_ids = regions(*scope) if scope else None
    start = at(2026, 3, 2, 8, 0)

    def counted():
        with CaptureQueriesContext(connection) as queries:
            per_line, trend = compute(region_ids=region_ids)
        return len(queries), per_line, trend

    make_calls([("east", start, 15, "answered")])
    one, per_line, _trend = counted()
    assert per_line.rows[0]["calls"] == 1
    make_calls(
        [
            ("east", start + dt.timedelta(minutes=i), 15 if i % 4 else None, "abandoned")
            for i in range(999)
        ]
    )
    thousand, per_line, trend = counted()
    assert per_line.rows[0]["calls"] == sum(row["calls"] for row in trend.rows) == 1000
    assert one == thousand == 3
