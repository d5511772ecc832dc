"""The supervisors' ticket reports (issue 20, point 4): figures, scope, bounds, query counts.

Each report is computed as the report pages compute it, `report.compute(user, filters)`, on a
small hand-built set of tickets whose figures are known; the viewer's scope arrives as
`Filters.region_ids` (core.reports). March 2026 in Shanghai is the period: it starts on a
Sunday, so its weeks start on Monday 23 February, 2, 9, 16, 23 and 30 March.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from core import reports
from core.reports import DAY, MONTH, WEEK, Filters, Period
from equipment.models import FaultCode, MachineModel, ProductLine, Severity, Unit
from tickets.models import Channel, FaultReport, Queue, Status, Survey, Ticket
from tickets.services import tickets as svc
from tickets.tests.conftest import at

START, END = at(2026, 3, 1), at(2026, 4, 1)
JUST_BEFORE = START - dt.timedelta(seconds=1)
LAST_MOMENT = END - dt.timedelta(seconds=1)
WEEKS = [
    dt.date(2026, 2, 23),
    dt.date(2026, 3, 2),
    dt.date(2026, 3, 9),
    dt.date(2026, 3, 16),
    dt.date(2026, 3, 23),
    dt.date(2026, 3, 30),
]


def compute(key: str, *, regions=None, by: str = "", bucket: str = WEEK, start=START, end=END):
    report = reports.get(key)
    assert report is not None, f"{key} is not registered"
    filters = Filters(period=Period(start, end, bucket), region_ids=regions, by=by)
    return {table.key: table for table in report.compute(None, filters)}


def column(table, key: str) -> list:
    return [row[key] for row in table.rows]


def by_label(table, *keys: str) -> dict:
    return {row["label"]: tuple(row[k] for k in keys) for row in table.rows}


@pytest.fixture
def east(make_org):
    return make_org("East Welding A")


@pytest.fixture
def south(make_org):
    return make_org("South Welding", region="south")


@pytest.fixture
def east_id(east):
    return [east.region_id]


def test_the_reports_are_registered_with_their_dimensions():
    keys = {report.key for report in reports.all_reports()}
    assert {
        "tickets-volume",
        "tickets-sla",
        "tickets-backlog",
        "tickets-reopens",
        "tickets-satisfaction",
    } <= keys
    assert [k for k, _ in reports.get("tickets-volume").dimensions] == [
        "channel",
        "region",
        "product_line",
        "fault_code",
    ]
    assert [k for k, _ in reports.get("tickets-sla").dimensions] == ["queue", "priority", "agent"]


# ------------------------------------------------------------------- ticket volume


@pytest.fixture
def volume_set(ticket_row, east, south, make_org, make_unit):
    """Four East tickets in March, and others the report must leave out."""
    other_east = make_org("East Welding B")
    robotic = MachineModel.objects.create(
        code="rc-6",
        name="RC-6 robotic cell",
        product_line=ProductLine.ROBOTIC,
        wavelength_nm=1080,
        max_power_w=6000,
    )
    robot_unit = Unit.objects.create(
        serial_number="RC6-00001",
        machine_model=robotic,
        organisation=other_east,
        installed_on=dt.date(2025, 1, 1),
        warranty_ends_on=dt.date(2027, 1, 1),
    )
    porosity = FaultCode.objects.create(
        code="E101", title_en="Porosity", title_zh="气孔", severity=Severity.MAJOR
    )
    handheld = ticket_row(
        east, at(2026, 3, 2, 10), channel=Channel.PORTAL, unit=make_unit(east), status=Status.OPEN
    )
    FaultReport.objects.create(ticket=handheld, fault_code=porosity)
    ticket_row(east, at(2026, 3, 3, 10), channel=Channel.EMAIL, status=Status.RESOLVED)
    robot = ticket_row(
        other_east, at(2026, 3, 10, 10), channel=Channel.PORTAL, unit=robot_unit, status="closed"
    )
    FaultReport.objects.create(ticket=robot, fault_code=porosity)
    ticket_row(east, LAST_MOMENT, channel=Channel.PORTAL, status=Status.NEW)
    # Left out: at the end, just before the start, a merged duplicate.
    ticket_row(east, END, channel=Channel.PORTAL)
    ticket_row(east, JUST_BEFORE, channel=Channel.PORTAL)
    ticket_row(east, at(2026, 3, 6), channel=Channel.PORTAL, merged_into=handheld, status="closed")
    # Another region's ticket.
    ticket_row(south, at(2026, 3, 5), channel=Channel.PHONE, status=Status.OPEN)


def test_volume_by_channel_counts_the_period_share_and_still_open(volume_set, east_id):
    table = compute("tickets-volume", regions=east_id, by="channel")["by"]
    assert column(table, "label") == ["Portal", "Email"]
    assert by_label(table, "created", "share", "open") == {
        "Portal": (3, 75.0, 2),
        "Email": (1, 25.0, 0),
    }
    assert table.chart.kind == reports.HBARS and table.chart.series == ["created"]


def test_volume_by_region_shows_every_region_to_a_viewer_of_all(volume_set):
    table = compute("tickets-volume", regions=None, by="region")["by"]
    assert by_label(table, "created", "share", "open") == {
        "East China": (4, 80.0, 2),
        "South China": (1, 20.0, 1),
    }
    with translation.override("zh-hans"):
        table = compute("tickets-volume", regions=None, by="region")["by"]
    assert column(table, "label") == ["华东", "华南"]


def test_volume_by_product_line_names_tickets_without_a_machine(volume_set, east_id):
    table = compute("tickets-volume", regions=east_id, by="product_line")["by"]
    assert [(row["label"], row["created"]) for row in table.rows] == [
        ("No machine", 2),
        ("Handheld fibre-laser welders", 1),
        ("Robotic welding cells", 1),
    ]


def test_volume_by_fault_code_in_the_readers_language(volume_set, east_id):
    table = compute("tickets-volume", regions=east_id, by="fault_code")["by"]
    assert [(row["label"], row["created"]) for row in table.rows] == [
        ("E101 Porosity", 2),
        ("No fault code", 2),
    ]
    with translation.override("zh-hans"):
        table = compute("tickets-volume", regions=east_id, by="fault_code")["by"]
    assert column(table, "label")[0] == "E101 气孔"


def test_volume_trend_has_every_week_of_the_period(volume_set, east_id):
    trend = compute("tickets-volume", regions=east_id)["trend"]
    assert column(trend, "bucket") == WEEKS
    assert column(trend, "created") == [0, 2, 1, 0, 0, 1]
    assert trend.chart.kind == reports.LINES


def test_volume_trend_by_day_and_by_month(volume_set, east_id):
    days = compute("tickets-volume", regions=east_id, bucket=DAY)["trend"]
    assert len(days.rows) == 31
    assert {row["bucket"]: row["created"] for row in days.rows if row["created"]} == {
        dt.date(2026, 3, 2): 1,
        dt.date(2026, 3, 3): 1,
        dt.date(2026, 3, 10): 1,
        dt.date(2026, 3, 31): 1,  # 23:59:59 in Shanghai is still the 31st
    }
    months = compute("tickets-volume", regions=east_id, bucket=MONTH)["trend"]
    assert [(row["bucket"], row["created"]) for row in months.rows] == [(dt.date(2026, 3, 1), 4)]


def test_an_unknown_dimension_falls_back_to_the_first(volume_set, east_id):
    table = compute("tickets-volume", regions=east_id, by="nonsense")["by"]
    assert column(table, "label") == ["Portal", "Email"]


# ------------------------------------------------------------------- SLA attainment


@pytest.fixture
def sla_set(ticket_row, east, south, queue_setup, make_staff):
    handheld, _supervisor, _agents = queue_setup
    Queue.objects.filter(pk=handheld.pk).update(name_zh="华东手持")
    robotic = Queue.objects.create(name="East robotic", slug="east-robotic")
    ada = make_staff(full_name="Ada Wang")
    bo = make_staff(full_name="Bo Li")
    march = at(2026, 3, 9, 10)

    def row(queue, priority, assignee, first, resolution, organisation=east, created=march):
        return ticket_row(
            organisation,
            created,
            queue=queue,
            priority=priority,
            assignee=assignee,
            first_response_met=first,
            resolution_met=resolution,
        )

    row(handheld, 1, ada, True, True)
    row(handheld, 2, ada, False, None)
    row(handheld, 3, bo, True, False)
    row(robotic, 3, None, None, None)
    row(None, 3, bo, True, True)
    # Left out: another region, before the period, a merged duplicate.
    row(handheld, 3, bo, False, False, organisation=south)
    row(handheld, 3, bo, False, False, created=JUST_BEFORE)
    dup = row(handheld, 3, bo, False, False)
    Ticket.objects.filter(pk=dup.pk).update(merged_into=Ticket.objects.order_by("pk").first())


SLA_FIGURES = (
    "tickets",
    "first_response_verdicts",
    "first_response_pct",
    "resolution_verdicts",
    "resolution_pct",
)


def test_sla_by_queue(sla_set, east_id):
    table = compute("tickets-sla", regions=east_id, by="queue")["by"]
    assert column(table, "label") == ["East handheld", "East robotic", "No queue", "All"]
    assert by_label(table, *SLA_FIGURES) == {
        "East handheld": (3, 3, 66.7, 2, 50.0),
        "East robotic": (1, 0, None, 0, None),
        "No queue": (1, 1, 100.0, 1, 100.0),
        "All": (5, 4, 75.0, 3, 66.7),
    }
    assert table.chart.kind == reports.BARS
    assert table.chart.series == ["first_response_pct", "resolution_pct"]
    assert table.chart.target is None  # the desk sets no attainment target
    with translation.override("zh-hans"):
        table = compute("tickets-sla", regions=east_id, by="queue")["by"]
    assert "华东手持" in column(table, "label")
    assert "East robotic" in column(table, "label")  # no Chinese name: the English one


def test_sla_by_priority(sla_set, east_id):
    table = compute("tickets-sla", regions=east_id, by="priority")["by"]
    assert [(row["label"][:2], *(row[k] for k in SLA_FIGURES)) for row in table.rows] == [
        ("P1", 1, 1, 100.0, 1, 100.0),
        ("P2", 1, 1, 0.0, 0, None),
        ("P3", 3, 2, 100.0, 2, 50.0),
        ("Al", 5, 4, 75.0, 3, 66.7),
    ]


def test_sla_by_agent_names_staff_and_the_unassigned(sla_set, east_id):
    table = compute("tickets-sla", regions=east_id, by="agent")["by"]
    assert column(table, "label") == ["Ada Wang", "Bo Li", "Unassigned", "All"]
    assert by_label(table, *SLA_FIGURES)["Ada Wang"] == (2, 2, 50.0, 1, 100.0)
    assert by_label(table, *SLA_FIGURES)["Bo Li"] == (2, 2, 100.0, 2, 50.0)
    assert by_label(table, *SLA_FIGURES)["Unassigned"] == (1, 0, None, 0, None)


# ------------------------------------------------------------------- backlog by age


def test_backlog_counts_what_was_open_at_the_end_by_age_and_priority(ticket_row, east, south):
    end = at(2026, 3, 20, 12)
    hours, days = dt.timedelta(hours=1), dt.timedelta(days=1)
    ticket_row(east, end - 2 * hours, priority=1)  # under a day
    ticket_row(east, end - days, priority=3)  # exactly a day: 1-3 days
    ticket_row(east, end - 2 * days, priority=2)  # 1-3 days
    ticket_row(east, end - 5 * days, priority=3, resolved_at=end + hours)  # resolved later
    ticket_row(east, end - 20 * days, priority=2, closed_at=end)  # closed at the end: open
    ticket_row(east, end - 40 * days, priority=4)  # over 30 days
    # Not open at the end: resolved or closed before it, opened at it, another region.
    ticket_row(east, end - 10 * days, priority=3, resolved_at=end - hours, status="resolved")
    ticket_row(east, end - 40 * days, priority=4, closed_at=end - dt.timedelta(seconds=1))
    ticket_row(east, end, priority=1)
    ticket_row(south, end - 2 * hours, priority=1)

    table = compute("tickets-backlog", regions=[east.region_id], start=START, end=end)["ages"]
    assert [(r["age"], r["p1"], r["p2"], r["p3"], r["p4"], r["total"]) for r in table.rows] == [
        ("Under 1 day", 1, 0, 0, 0, 1),
        ("1–3 days", 0, 1, 1, 0, 2),
        ("3–7 days", 0, 0, 1, 0, 1),
        ("7–30 days", 0, 1, 0, 0, 1),
        ("Over 30 days", 0, 0, 0, 1, 1),
    ]
    everywhere = compute("tickets-backlog", regions=None, start=START, end=end)["ages"]
    assert everywhere.rows[0]["p1"] == 2
    assert table.chart.kind == reports.BARS


# ------------------------------------------------------------------- reopen rate


def test_reopen_rate_per_week_of_resolution(ticket_row, east, south):
    def resolved(when, reopened, organisation=east):
        ticket_row(organisation, at(2026, 2, 1), resolved_at=when, reopened_count=reopened)

    resolved(at(2026, 3, 3), 0)
    resolved(at(2026, 3, 4), 2)
    resolved(at(2026, 3, 10), 1)
    resolved(JUST_BEFORE, 1)
    resolved(END, 1)
    resolved(at(2026, 3, 3), 1, organisation=south)
    ticket_row(east, at(2026, 3, 2), reopened_count=1)  # reopened and not resolved again

    tables = compute("tickets-reopens", regions=[east.region_id])
    trend = tables["trend"]
    assert column(trend, "bucket") == WEEKS
    assert [(r["resolved"], r["reopened"], r["rate"]) for r in trend.rows] == [
        (0, 0, None),
        (2, 1, 50.0),
        (1, 1, 100.0),
        (0, 0, None),
        (0, 0, None),
        (0, 0, None),
    ]
    assert tables["total"].rows == [{"resolved": 3, "reopened": 2, "rate": 66.7}]
    assert "not counted" in trend.note
    assert trend.chart.kind == reports.LINES


def test_every_reopen_of_a_resolved_ticket_is_counted_by_the_services(open_ticket, queue_setup):
    agent = queue_setup[2][0]
    ticket = open_ticket()  # opened Monday 2 March 09:00
    customer = ticket.requester
    svc.ticket_reply(ticket=ticket, author=agent, body="Clean the lens.", now=at(2026, 3, 2, 10))
    svc.ticket_transition(ticket=ticket, status="waiting", actor=agent, now=at(2026, 3, 2, 11))
    svc.ticket_reply(ticket=ticket, author=customer, body="Done.", now=at(2026, 3, 2, 12))
    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopened_count) == ("open", 0)  # waiting is not resolved

    svc.ticket_transition(ticket=ticket, status="resolved", actor=agent, now=at(2026, 3, 3, 9))
    svc.ticket_reply(ticket=ticket, author=customer, body="Pores again.", now=at(2026, 3, 4, 9))
    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopened_count) == ("open", 1)
    assert ticket.reopened_at == at(2026, 3, 4, 9)

    svc.ticket_transition(ticket=ticket, status="resolved", actor=agent, now=at(2026, 3, 5, 9))
    svc.ticket_transition(ticket=ticket, status="open", actor=customer, now=at(2026, 3, 6, 9))
    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopened_count) == ("open", 2)
    assert ticket.reopened_at == at(2026, 3, 6, 9)

    svc.ticket_transition(ticket=ticket, status="resolved", actor=agent, now=at(2026, 3, 10, 9))
    tables = compute("tickets-reopens", regions=[ticket.organisation.region_id])
    assert tables["total"].rows == [{"resolved": 1, "reopened": 1, "rate": 100.0}]
    assert tables["trend"].rows[2]["bucket"] == dt.date(2026, 3, 9)
    assert tables["trend"].rows[2]["reopened"] == 1


# ------------------------------------------------------------------- satisfaction


@pytest.fixture
def surveys(ticket_row, east, south, queue_setup):
    queue = queue_setup[0]
    Queue.objects.filter(pk=queue.pk).update(name_zh="华东手持")

    def answered(when, rating, comment="", organisation=east):
        ticket = ticket_row(organisation, at(2026, 2, 1))
        return Survey.objects.create(
            ticket=ticket, queue=queue, rating=rating, comment=comment, answered_at=when
        )

    answered(at(2026, 3, 2, 10), 5, "Great service")
    answered(at(2026, 3, 3, 10), 3)
    answered(at(2026, 3, 4, 10), 4)
    answered(at(2026, 3, 10, 10), 5, "Quick fix")
    answered(at(2026, 3, 10, 11), 1, "Too slow")
    # Left out: not answered, just before, at the end, another region.
    Survey.objects.create(ticket=ticket_row(east, at(2026, 3, 1)), queue=queue)
    answered(JUST_BEFORE, 1, "before")
    answered(END, 1, "after")
    answered(at(2026, 3, 3), 1, "southern secret", organisation=south)


def test_satisfaction_per_week_and_over_the_period(surveys, east_id):
    tables = compute("tickets-satisfaction", regions=east_id)
    trend = tables["trend"]
    assert column(trend, "bucket") == WEEKS
    assert [(r["answered"], r["average"], r["satisfied_pct"]) for r in trend.rows] == [
        (0, None, None),
        (3, 4.0, 66.7),
        (2, 3.0, 50.0),
        (0, None, None),
        (0, None, None),
        (0, None, None),
    ]
    total = tables["total"].rows[0]
    assert (total["answered"], total["average"], total["satisfied_pct"]) == (5, 3.6, 60.0)


def test_the_latest_comments_newest_first_without_empty_ones(surveys, east_id):
    comments = compute("tickets-satisfaction", regions=east_id)["comments"]
    assert [(r["comment"], r["rating"]) for r in comments.rows] == [
        ("Too slow", 1),
        ("Quick fix", 5),
        ("Great service", 5),
    ]
    first = comments.rows[0]
    assert first["answered_at"] == at(2026, 3, 10, 11)
    assert first["reference"].startswith("T-") and first["queue"] == "East handheld"
    with translation.override("zh-hans"):
        comments = compute("tickets-satisfaction", regions=east_id)["comments"]
    assert comments.rows[0]["queue"] == "华东手持"


# ------------------------------------------------------------------- scope


ALL_REPORTS = [
    ("tickets-volume", "channel"),
    ("tickets-volume", "region"),
    ("tickets-volume", "product_line"),
    ("tickets-volume", "fault_code"),
    ("tickets-sla", "queue"),
    ("tickets-sla", "priority"),
    ("tickets-sla", "agent"),
    ("tickets-backlog", ""),
    ("tickets-reopens", ""),
    ("tickets-satisfaction", ""),
]


@pytest.fixture
def one_of_everything(ticket_row, queue_setup, make_unit):
    """Tickets, bulk-written, that every report counts."""
    queue, _supervisor, agents = queue_setup

    def add(organisation, n=1, *, first_resolved=False):
        """n tickets of the organisation opened on 2 March, every other one resolved on the
        20th and reopened before (the first one when first_resolved), each with a fault
        report and an answered survey."""
        unit = make_unit(organisation)
        base = Ticket.objects.count()
        resolved = 0 if first_resolved else 1
        code, _ = FaultCode.objects.get_or_create(
            code="E101", defaults={"title_en": "Porosity", "title_zh": "气孔", "severity": "major"}
        )
        tickets = Ticket.objects.bulk_create(
            Ticket(
                reference=f"B-{base + i:06d}",
                organisation=organisation,
                subject="bulk",
                created_at=at(2026, 3, 2) + dt.timedelta(minutes=i),
                unit=unit,
                queue=queue,
                assignee=agents[i % 3],
                priority=1 + i % 4,
                channel=Channel.values[i % len(Channel.values)],
                first_response_met=bool(i % 2),
                resolution_met=bool(i % 3),
                resolved_at=(
                    at(2026, 3, 20) + dt.timedelta(minutes=i) if i % 2 == resolved else None
                ),
                reopened_count=1 if i % 2 == resolved else 0,
            )
            for i in range(n)
        )
        FaultReport.objects.bulk_create(FaultReport(ticket=t, fault_code=code) for t in tickets)
        Survey.objects.bulk_create(
            Survey(
                ticket=t,
                queue=queue,
                agent=agents[0],
                rating=1 + i % 5,
                comment=f"comment {i}",
                answered_at=at(2026, 3, 21) + dt.timedelta(minutes=i),
            )
            for i, t in enumerate(tickets)
        )
        return tickets

    return add


@pytest.mark.parametrize(("key", "by"), ALL_REPORTS)
def test_another_region_is_never_counted_and_no_region_is_empty(
    key, by, one_of_everything, make_org
):
    south = make_org("South Welding", region="south")
    one_of_everything(south, 2)  # one open, one resolved
    east = make_org("East Welding")
    assert all(not t.rows for t in compute(key, by=by, regions=[east.region_id]).values())
    assert any(t.rows for t in compute(key, by=by, regions=[south.region_id]).values())
    assert any(t.rows for t in compute(key, by=by, regions=None).values())
    assert all(not t.rows for t in compute(key, by=by, regions=[]).values())


# ------------------------------------------------------------------- query counts


@pytest.mark.parametrize(("key", "by"), ALL_REPORTS)
def test_a_report_costs_the_same_queries_for_one_ticket_as_for_a_thousand(
    key, by, one_of_everything, make_org, django_assert_num_queries
):
    east = make_org("East Welding")
    period = Filters(period=Period(START, END, DAY), region_ids=[east.region_id], by=by)
    report = reports.get(key)
    # One ticket the report counts: resolved for the reopen rate, open for the others.
    one_of_everything(east, 1, first_resolved=key == "tickets-reopens")
    with CaptureQueriesContext(connection) as one:
        few = [list(table.rows) for table in report.compute(None, period)]
    assert any(few) and len(one) <= 3
    one_of_everything(east, 1000)
    with django_assert_num_queries(len(one)):
        many = [list(table.rows) for table in report.compute(None, period)]
    assert sum(map(len, many)) >= sum(map(len, few))
