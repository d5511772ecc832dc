"""The supervisors' reports of incidents and of compensation granted: exact figures on a small
desk, the region scope, the period's bounds, and the same queries for one row and a thousand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from accounts.models import Region
from compensation.models import Assessment, EventKind, GrantKind, GrantStatus
from core import reports
from core.reports import MONTH, Filters, Period

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
APPLIED, REVERSED = GrantStatus.APPLIED, GrantStatus.REVERSED
WARRANTY, VOUCHER, PRIORITY = GrantKind.WARRANTY, GrantKind.VOUCHER, GrantKind.PRIORITY


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


MARCH = Period(start=at(2026, 3, 1), end=at(2026, 4, 1), bucket=MONTH)
MARCH_APRIL = Period(start=at(2026, 3, 1), end=at(2026, 5, 1), bucket=MONTH)


def regions(*codes):
    return list(Region.objects.filter(code__in=codes).values_list("pk", flat=True))


def compute(key, period=MARCH, region_ids=None):
    return reports.get(key).compute(None, Filters(period=period, region_ids=region_ids))


@pytest.fixture
def orgs(make_org):
    return {
        "a": make_org("东方焊接", region="east"),
        "b": make_org("浦江激光", region="east"),
        "n": make_org("北方机械", region="north"),
    }


# ------------------------------------------------------------------------------ incidents


@pytest.fixture
def incidents(make_incidents, make_grants, orgs):
    """East hotline down 2.5 h on 2 March, assessed: grants to two eastern customers (one
    rejected) and a northern one; the chat slow since 10 March, still open, not assessed; the
    south hotline down an hour on 5 March, assessed without grants; one naming no component;
    an eastern draft, and eastern incidents just outside March."""
    found = make_incidents(
        [
            {
                "title": "Hotline East down",
                "title_zh": "华东热线中断",
                "start": at(2026, 3, 2, 9, 0),
                "end": at(2026, 3, 2, 11, 30),
                "parts": ("east",),
            },
            {"title": "Chat slow", "start": at(2026, 3, 10, 8, 0), "parts": ("chat",)},
            {
                "title": "Hotline South down",
                "start": at(2026, 3, 5, 14, 0),
                "end": at(2026, 3, 5, 15, 0),
                "parts": ("south",),
            },
            {"title": "Mail delayed", "start": at(2026, 3, 20), "end": at(2026, 3, 20, 0, 30)},
            {"title": "Draft", "start": at(2026, 3, 3), "parts": ("east",), "published": False},
            {
                "title": "Before",
                "start": at(2026, 2, 28, 23, 59),
                "end": at(2026, 3, 1, 2),
                "parts": ("east",),
            },
            {"title": "After", "start": at(2026, 4, 1), "parts": ("east",)},
        ]
    )
    east = found[0]
    make_grants(
        [
            {"incident": east, "organisation": orgs["a"], "kind": WARRANTY, "status": APPLIED},
            {"incident": east, "organisation": orgs["a"], "kind": VOUCHER, "status": APPLIED},
            {"incident": east, "organisation": orgs["b"], "kind": VOUCHER, "status": "rejected"},
            {"incident": east, "organisation": orgs["n"], "kind": VOUCHER, "status": APPLIED},
        ]
    )
    Assessment.objects.create(
        key=f"incident:{found[2].pk}",
        event=EventKind.INCIDENT,
        incident=found[2],
        window_start=found[2].started_at,
        window_end=found[2].resolved_at,
        hours=Decimal("1.00"),
        assessed_by="test",
    )
    return found


def test_both_reports_are_registered_in_the_incidents_and_compensation_group():
    for key in ("incidents", "compensation-granted"):
        assert str(reports.get(key).group) == "Incidents and compensation"


def test_incidents_of_the_east_with_duration_and_affected_customers(incidents):
    before = timezone.now()
    longest, listed = compute("incidents", region_ids=regions("east"))
    rows = {row["title"]: row for row in listed.rows}
    # The east hotline's, the nationwide chat's and the one naming no component, by start.
    assert [row["title"] for row in listed.rows] == [
        "Hotline East down",
        "Chat slow",
        "Mail delayed",
    ]
    east = rows["Hotline East down"]
    assert east["severity"] == "Regional hotline down"
    assert east["components"] == "Hotline East"
    assert (east["started"], east["resolved"]) == (at(2026, 3, 2, 9, 0), at(2026, 3, 2, 11, 30))
    assert east["duration"] == 150.0
    # Two eastern customers were named (one rejected); the northern one is another region's.
    assert east["customers"] == 2
    # Still open: counted up to now, and said so; never assessed: no figure.
    chat = rows["Chat slow"]
    assert chat["resolved"] is None and "open" in chat["state"]
    assert chat["duration"] >= round((before - at(2026, 3, 10, 8, 0)).total_seconds() / 60, 1)
    assert chat["customers"] is None
    assert rows["Mail delayed"]["duration"] == 30.0 and rows["Mail delayed"]["components"] == ""
    assert [row["title"] for row in longest.rows] == [
        "Chat slow",
        "Hotline East down",
        "Mail delayed",
    ]
    assert longest.rows[1]["hours"] == 2.5 and longest.chart.kind == "hbars"


def test_every_region_sees_every_published_incident_and_every_affected_customer(incidents):
    _longest, listed = compute("incidents", region_ids=None)
    rows = {row["title"]: row for row in listed.rows}
    assert sorted(rows) == ["Chat slow", "Hotline East down", "Hotline South down", "Mail delayed"]
    assert rows["Hotline East down"]["customers"] == 3
    # Assessed, nobody named: 0, not "not assessed".
    assert rows["Hotline South down"]["customers"] == 0


def test_a_foreign_region_sees_only_the_nationwide_incidents_and_no_region_nothing(incidents):
    longest, listed = compute("incidents", region_ids=regions("north"))
    assert [row["title"] for row in listed.rows] == ["Chat slow", "Mail delayed"]
    assert {row["title"] for row in longest.rows} == {"Chat slow", "Mail delayed"}
    longest, listed = compute("incidents", region_ids=[])
    assert longest.rows == [] and listed.rows == []


def test_the_period_bounds_count_the_incidents_own_start(incidents):
    period = Period(start=at(2026, 2, 28, 23, 59), end=at(2026, 4, 1), bucket=MONTH)
    _longest, listed = compute("incidents", period=period, region_ids=regions("east"))
    titles = [row["title"] for row in listed.rows]
    assert titles[0] == "Before" and "After" not in titles and "Draft" not in titles


def test_titles_components_and_severity_in_chinese_for_a_chinese_reader(incidents):
    with translation.override("zh-hans"):
        _longest, listed = compute("incidents", region_ids=regions("east"))
    east = listed.rows[0]
    assert (east["title"], east["components"], east["severity"]) == (
        "华东热线中断",
        "华东热线",
        "区域热线中断",
    )


@pytest.mark.parametrize("scope", [None, ("east",)])
def test_one_incident_or_a_thousand_cost_the_same_queries(make_incidents, orgs, scope):
    region_ids = regions(*scope) if scope else None
    start = at(2026, 3, 2)

    def counted():
        with CaptureQueriesContext(connection) as queries:
            longest, listed = compute("incidents", region_ids=region_ids)
        return len(queries), longest, listed

    def incidents(n, offset=0):
        return [
            {
                "title": f"Outage {offset + i}",
                "start": start + dt.timedelta(minutes=offset + i),
                "end": start + dt.timedelta(minutes=offset + 2 * i + 5),
                "parts": ("east", "chat"),
            }
            for i in range(n)
        ]

    first = make_incidents(incidents(1))
    Assessment.objects.create(
        key=f"incident:{first[0].pk}",
        event=EventKind.INCIDENT,
        incident=first[0],
        window_start=start,
        window_end=start,
        hours=Decimal("0"),
        assessed_by="test",
    )
    one, longest, listed = counted()
    assert len(listed.rows) == 1 and listed.rows[0]["customers"] == 0
    make_incidents(incidents(999, offset=1))
    thousand, longest, listed = counted()
    assert len(listed.rows) == 200 and "first 200" in listed.note
    assert len(longest.rows) == 20 and longest.rows[0]["title"] == "Outage 999"
    assert listed.rows[-1]["components"] == "Chat, Hotline East"
    assert one == thousand == 4


# ---------------------------------------------------------------------- compensation granted


@pytest.fixture
def grants(make_grants, orgs):
    """In March: a warranty extension and a voucher applied to an eastern customer, a voucher
    to a northern one; on 1 April at 07:30 in Shanghai (still March in UTC) priority service
    to another eastern customer, and in April the reversal of a voucher applied in March. A
    rejected and a proposed voucher, and a grant applied just before March."""
    return make_grants(
        [
            {
                "organisation": orgs["a"],
                "kind": WARRANTY,
                "days": 10,
                "status": APPLIED,
                "applied_at": at(2026, 3, 2, 10, 0),
            },
            {
                "organisation": orgs["a"],
                "kind": VOUCHER,
                "amount": Decimal("1000.00"),
                "status": APPLIED,
                "applied_at": at(2026, 3, 3),
            },
            {
                "organisation": orgs["n"],
                "kind": VOUCHER,
                "amount": Decimal("2000.00"),
                "status": APPLIED,
                "applied_at": at(2026, 3, 5),
            },
            {
                "organisation": orgs["b"],
                "kind": PRIORITY,
                "days": 7,
                "status": APPLIED,
                "applied_at": at(2026, 4, 1, 7, 30),
            },
            {
                "organisation": orgs["b"],
                "kind": VOUCHER,
                "amount": Decimal("500.00"),
                "status": REVERSED,
                "applied_at": at(2026, 3, 4),
                "reversed_at": at(2026, 4, 2),
            },
            {
                "organisation": orgs["a"],
                "kind": VOUCHER,
                "amount": Decimal("800.00"),
                "status": "rejected",
                "decided_at": at(2026, 3, 6),
            },
            {"organisation": orgs["a"], "kind": VOUCHER, "amount": Decimal("900.00")},
            {
                "organisation": orgs["a"],
                "kind": WARRANTY,
                "days": 3,
                "status": APPLIED,
                "applied_at": at(2026, 2, 28, 23, 59),
            },
        ]
    )


def test_compensation_granted_per_month_in_the_east(grants):
    (table,) = compute("compensation-granted", period=MARCH_APRIL, region_ids=regions("east"))
    assert table.rows == [
        {
            "month": dt.date(2026, 3, 1),
            "grants": 2,
            "organisations": 1,
            "warranty_days": 10,
            "priority_days": 0,
            "vouchers": 1,
            "voucher_value": Decimal("1000.00"),
            "reversed": 0,
            "reversed_value": Decimal("0.00"),
        },
        {
            "month": dt.date(2026, 4, 1),
            "grants": 1,
            "organisations": 1,
            "warranty_days": 0,
            "priority_days": 7,
            "vouchers": 0,
            "voucher_value": Decimal("0.00"),
            "reversed": 1,
            "reversed_value": Decimal("500.00"),
        },
    ]


def test_every_region_counts_the_northern_voucher_too(grants):
    (table,) = compute("compensation-granted", period=MARCH_APRIL, region_ids=None)
    march = table.rows[0]
    assert (march["grants"], march["organisations"], march["voucher_value"]) == (
        3,
        2,
        Decimal("3000.00"),
    )


def test_a_foreign_region_counts_nothing_and_no_region_has_no_rows(grants):
    (table,) = compute("compensation-granted", period=MARCH_APRIL, region_ids=regions("south"))
    assert [(row["grants"], row["reversed"]) for row in table.rows] == [(0, 0), (0, 0)]
    (table,) = compute("compensation-granted", period=MARCH_APRIL, region_ids=[])
    assert table.rows == []


def test_the_period_includes_its_start_and_excludes_its_end(grants):
    period = Period(start=at(2026, 2, 28, 23, 59), end=at(2026, 4, 1, 7, 30), bucket=MONTH)
    (table,) = compute("compensation-granted", period=period, region_ids=regions("east"))
    assert [(row["month"], row["grants"], row["warranty_days"]) for row in table.rows] == [
        (dt.date(2026, 2, 1), 1, 3),
        (dt.date(2026, 3, 1), 2, 10),
        # The priority service applied at 07:30 on 1 April is the end: not counted.
        (dt.date(2026, 4, 1), 0, 0),
    ]


@pytest.mark.parametrize("scope", [None, ("east",)])
def test_one_grant_or_a_thousand_cost_the_same_queries(make_grants, orgs, scope):
    region_ids = regions(*scope) if scope else None

    def counted():
        with CaptureQueriesContext(connection) as queries:
            (table,) = compute("compensation-granted", period=MARCH_APRIL, region_ids=region_ids)
        return len(queries), table

    def voucher(i, assessment=None):
        row = {
            "organisation": orgs["a"],
            "kind": VOUCHER,
            "amount": Decimal("10.00"),
            "status": REVERSED if i % 10 == 0 else APPLIED,
            "applied_at": at(2026, 3, 1) + dt.timedelta(hours=i),
            "reversed_at": at(2026, 4, 1) + dt.timedelta(minutes=i) if i % 10 == 0 else None,
        }
        if assessment is not None:
            row["assessment"] = assessment
        return row

    make_grants([voucher(1)])
    one, table = counted()
    assert table.rows[0]["grants"] == 1
    assessments = Assessment.objects.bulk_create(
        Assessment(
            key=f"bulk:{i}",
            event=EventKind.INCIDENT,
            window_start=at(2026, 3, 1),
            window_end=at(2026, 3, 1),
            hours=Decimal("0"),
            assessed_by="test",
        )
        for i in range(999)
    )
    make_grants([voucher(i + 2, assessment) for i, assessment in enumerate(assessments)])
    thousand, table = counted()
    assert sum(row["grants"] + row["reversed"] for row in table.rows) == 1000
    assert sum(row["reversed"] for row in table.rows) == 100
    assert one == thousand == 2
