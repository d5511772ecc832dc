"""The supervisors' report pages (servicedesk/reports.py, servicedesk/charts.py).

A small report registered by the test itself reads real tickets through the ORM (tickets per
channel, status or organisation, filtered by the regions it is given), so the pages are proven
on data: who may see them, whose regions they show, how bad filters are refused, what the CSV
holds, that every label is escaped, and that the query count does not grow with the data.
The last test renders every report the apps registered, so theirs are covered once merged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import roles
from accounts.models import Region
from audit.models import AuditEvent
from core import reports
from servicedesk import charts, report_values
from servicedesk import reports as report_views
from testsupport import sign_in
from tickets.models import Channel, Kind, Status, Ticket

pytestmark = pytest.mark.django_db

KEY = "test-tickets-by-channel"
URL = f"/admin/reports/{KEY}/"
EVIL = "<script>alert(1)</script>"


def _tickets_by(user, filters: reports.Filters) -> list[reports.Table]:
    """Tickets opened in the period per channel (or status, or organisation), in one query."""
    field = {"channel": "channel", "status": "status", "organisation": "organisation__name"}[
        filters.by
    ]
    tickets = Ticket.objects.filter(
        created_at__gte=filters.period.start, created_at__lt=filters.period.end
    )
    if filters.region_ids is not None:
        tickets = tickets.filter(organisation__region_id__in=filters.region_ids)
    rows = [
        {"name": row[field], "tickets": row["n"], "share": None}
        for row in tickets.values(field).annotate(n=Count("pk")).order_by(field)
    ]
    total = sum(row["tickets"] for row in rows)
    for row in rows:
        row["share"] = reports.percent(row["tickets"], total)
    return [
        reports.Table(
            key="volume",
            title="Tickets",
            columns=[
                reports.Column("name", "Name"),
                reports.Column("tickets", "Tickets", reports.INT),
                reports.Column("share", "Share", reports.PERCENT),
            ],
            rows=rows,
            chart=reports.Chart(kind=reports.HBARS, x="name", series=["tickets"], target=3),
            empty="No tickets in this period.",
            note="Counted by opening time.",
        )
    ]


@pytest.fixture
def test_report():
    report = reports.Report(
        key=KEY,
        title="Tickets by channel (test)",
        description="Counts the tickets opened in the period.",
        group="Test group",
        compute=_tickets_by,
        dimensions=[("channel", "Channel"), ("status", "Status"), ("organisation", "Customer")],
        order=1,
    )
    reports.register(report)
    yield report
    reports.unregister(KEY)


def _tickets(org, n: int, *, channel=Channel.PORTAL, days_ago: float = 1) -> None:
    from accounts.services import user_create

    requester = user_create(
        email=f"req{org.pk}-{n}-{channel}@factory.example", full_name="客户", organisation=org
    )
    created = timezone.now() - dt.timedelta(days=days_ago)
    start = Ticket.objects.count()
    Ticket.objects.bulk_create(
        Ticket(
            reference=f"WD-T-{start + i:06d}",
            created_at=created,
            organisation=org,
            requester=requester,
            kind=Kind.QUESTION,
            channel=channel,
            subject="Seam porosity",
            status=Status.NEW,
        )
        for i in range(n)
    )


def _client(user) -> Client:
    return sign_in(Client(), user)


@pytest.fixture
def supervisor(make_staff):
    return make_staff(roles=[roles.SUPERVISOR], regions=[])


@pytest.fixture
def east_agent(make_staff):
    return make_staff(roles=[roles.AGENT])  # of East China


# ----------------------------------------------------------------------------- who may see


def test_supervisors_agents_and_superusers_see_the_index_grouped(
    test_report, supervisor, east_agent, make_staff
):
    root = make_staff(roles=(), is_superuser=True)
    for user in (supervisor, east_agent, root):
        response = _client(user).get("/admin/reports/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "Test group" in html
        assert f'href="{URL}"' in html
        assert "Counts the tickets opened in the period." in html


def test_the_compliance_officer_is_refused_with_an_audited_403(test_report, make_staff):
    officer = make_staff(roles=[roles.COMPLIANCE])
    client = _client(officer)
    assert client.get("/admin/reports/").status_code == 403
    assert client.get(URL).status_code == 403
    denied = AuditEvent.objects.filter(action="access.denied", actor_ref=f"user:{officer.pk}")
    assert {event.target_id for event in denied} == {"admin-reports", "admin-report"}


def test_customers_and_anonymous_visitors_are_sent_to_sign_in(test_report, make_customer):
    for client in (Client(), _client(make_customer())):
        for url in ("/admin/reports/", URL):
            response = client.get(url)
            assert response.status_code == 302
            assert "login" in response["Location"]


def test_an_unknown_report_is_a_404(supervisor):
    assert _client(supervisor).get("/admin/reports/no-such-report/").status_code == 404


def test_an_agent_sees_only_the_figures_of_their_regions(test_report, east_agent, make_org):
    _tickets(make_org(region="east"), 3)
    _tickets(make_org(region="north"), 5, channel=Channel.EMAIL)
    response = _client(east_agent).get(URL)
    assert response.status_code == 200
    rows = _table_rows(response)
    assert rows == [["portal", "3", "100.0 %"]]
    # The region select offers East China only; the period shown is the one used.
    html = response.content.decode()
    assert '<option value="30" selected>' in html
    north = Region.objects.get(code="north")
    assert f'value="{north.pk}"' not in html
    assert "East China" in html


def test_a_supervisor_sees_every_region_and_may_choose_one(test_report, supervisor, make_org):
    _tickets(make_org(region="east"), 3)
    _tickets(make_org(region="north"), 5, channel=Channel.EMAIL)
    client = _client(supervisor)
    assert [r[1] for r in _table_rows(client.get(URL))] == ["5", "3"]
    north = Region.objects.get(code="north")
    assert [r[1] for r in _table_rows(client.get(URL, {"region": north.pk}))] == ["5"]


def test_choosing_a_region_outside_ones_scope_is_a_400(test_report, east_agent):
    north = Region.objects.get(code="north")
    response = _client(east_agent).get(URL, {"region": north.pk})
    assert response.status_code == 400
    assert "You may not see the region" in response.content.decode()


def test_an_agent_without_regions_sees_an_empty_report(test_report, make_staff, make_org):
    _tickets(make_org(region="east"), 3)
    response = _client(make_staff(roles=[roles.AGENT], regions=[])).get(URL)
    assert response.status_code == 200
    assert "No tickets in this period." in response.content.decode()


# ----------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"period": "custom", "start": "2026-02-30", "end": "2026-03-01"}, "Enter a valid date."),
        ({"start": "yesterday", "end": "2026-03-01"}, "Enter a valid date."),
        ({"period": "custom", "start": "2026-03-02", "end": "2026-03-01"}, "before the start"),
        ({"period": "custom", "start": "2022-01-01", "end": "2024-06-01"}, "longer than two"),
        ({"period": "custom", "start": "2026-01-01"}, "Give both dates"),
        ({"period": "custom", "start": "2026-01-01", "end": "2999-01-01"}, "in the future"),
        ({"period": "12"}, "Select a valid choice"),
        ({"by": "colour"}, "Select a valid choice"),
        ({"bucket": "hour"}, "Select a valid choice"),
        ({"region": "east"}, "You may not see the region"),
        ({"format": "xlsx"}, "Unknown format"),
    ],
)
def test_bad_filters_are_a_400_that_says_what_is_wrong(test_report, supervisor, query, message):
    response = _client(supervisor).get(URL, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'id="table-volume"' not in html


def test_the_period_runs_from_midnight_to_midnight_in_the_desks_time_zone(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    report = reports.Report(key="x", title="x", description="", group="", compute=lambda u, f: [])
    form = report_views.ReportFilterForm(
        {"period": "custom", "start": "2026-03-01", "end": "2026-03-31"},
        report=report,
        regions=[],
        scope=None,
        today=dt.date(2026, 12, 1),
    )
    assert form.is_valid(), form.errors
    filters = form.filters()
    assert filters.period.start == dt.datetime(2026, 2, 28, 16, 0, tzinfo=dt.UTC)
    assert filters.period.end == dt.datetime(2026, 3, 31, 16, 0, tzinfo=dt.UTC)
    assert filters.period.bucket == reports.DAY
    assert filters.region_ids is None
    assert filters.by == ""


@pytest.mark.parametrize(
    ("days", "bucket"), [(7, "day"), (31, "day"), (32, "week"), (180, "week"), (181, "month")]
)
def test_the_bucket_follows_the_length_of_the_period(days, bucket):
    assert report_views.auto_bucket(days) == bucket


def test_a_chosen_bucket_and_dimension_reach_the_report(test_report, supervisor, monkeypatch):
    seen = []
    monkeypatch.setattr(test_report, "compute", lambda user, f: seen.append(f) or [])
    response = _client(supervisor).get(URL, {"period": "365", "bucket": "week", "by": "status"})
    assert response.status_code == 200
    (filters,) = seen
    assert filters.period.bucket == reports.WEEK
    assert filters.by == "status"
    assert (filters.period.end - filters.period.start).days == 365


# ----------------------------------------------------------------------------- CSV


def test_the_csv_has_a_bom_the_labels_and_cells_safe_from_formulas(
    test_report, supervisor, make_org
):
    _tickets(make_org("=cmd|' /C calc'!A0", region="east"), 2)
    _tickets(make_org("华东焊接", region="east"), 1)
    client = _client(supervisor)
    page = client.get(URL, {"by": "organisation"})
    link = re.search(r'href="(\?[^"]*format=csv[^"]*)"', page.content.decode()).group(1)
    response = client.get(URL + link.replace("&amp;", "&"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate()
    start = today - dt.timedelta(days=29)
    assert response["Content-Disposition"] == (
        f'attachment; filename="{KEY}-volume-{start.isoformat()}-{today.isoformat()}.csv"'
    )
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0] == "Name,Tickets,Share"
    assert "'=cmd|' /C calc'!A0,2,66.7" in lines  # a leading quote: text, never a formula
    assert "华东焊接,1,33.3" in lines


def test_an_unknown_table_of_the_csv_is_a_404(test_report, supervisor):
    response = _client(supervisor).get(URL, {"format": "csv", "table": "nope"})
    assert response.status_code == 404


# ----------------------------------------------------------------------------- drawing


def test_labels_from_the_data_are_escaped_in_the_chart_and_the_table(
    test_report, supervisor, make_org
):
    _tickets(make_org(EVIL, region="east"), 2)
    response = _client(supervisor).get(URL, {"by": "organisation"})
    html = response.content.decode()
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    svg = re.search(r"<svg xmlns=.*?</svg>", html, re.S).group(0)
    assert "&lt;script&gt;" in svg
    assert 'role="img"' in svg and "aria-label=" in svg


def _table(kind: str, rows: list[dict], **chart) -> reports.Table:
    return reports.Table(
        key="t",
        title=f"Answer rate {EVIL}",
        columns=[
            reports.Column("day", "Day", reports.DATE),
            reports.Column("rate", f"Rate {EVIL}", reports.PERCENT),
            reports.Column("other", "Other", reports.PERCENT),
        ],
        rows=rows,
        chart=reports.Chart(kind=kind, x="day", series=["rate", "other"], **chart),
    )


@pytest.mark.parametrize("kind", [reports.BARS, reports.HBARS, reports.LINES])
def test_each_kind_of_chart_draws_escaped_svg_with_titles_and_a_target(kind):
    rows = [
        {"day": dt.date(2026, 3, d), "rate": rate, "other": 50.0}
        for d, rate in ((1, 91.5), (2, None), (3, 88.0))
    ]
    svg = str(charts.chart_svg(_table(kind, rows, target=90, unit="%")))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'viewBox="0 0 800 ' in svg and 'width="100%"' in svg
    assert EVIL not in svg
    assert "Rate &lt;script&gt;" in svg  # the legend of two series, escaped
    assert "Target 90 %" in svg
    assert "91.5 %" in svg and "88.0 %" in svg  # hover titles
    # None is skipped: two rates and three "other" values.
    assert svg.count("<title>") == 1 + 2 + 3
    assert "100 %" in svg  # a nice tick above the highest value


def test_a_chart_of_nothing_draws_nothing():
    assert charts.chart_svg(_table(reports.BARS, [])) == ""
    rows = [{"day": dt.date(2026, 3, 1), "rate": None, "other": None}]
    assert charts.chart_svg(_table(reports.LINES, rows)) == ""


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0, 93.4, [0, 20, 40, 60, 80, 100]),
        (0, 7, [0, 2, 4, 6, 8]),
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-3, 12, [-5, 0, 5, 10, 15]),
    ],
)
def test_ticks_are_round_numbers(low, high, ticks):
    assert charts.nice_ticks(low, high) == ticks


@pytest.mark.parametrize(
    ("kind", "value", "shown", "in_csv"),
    [
        (reports.PERCENT, 93.44, "93.4 %", "93.4"),
        (reports.MINUTES, 65.2, "1 h 05 min", "65.2"),
        (reports.MINUTES, 45, "45 min", "45.0"),
        (reports.INT, 12345, "12,345", "12345"),
        (reports.DECIMAL, 4.5, "4.50", "4.50"),
        (reports.TEXT, None, "—", ""),
        (reports.DATE, dt.date(2026, 3, 1), "03/01/2026", "2026-03-01"),
    ],
)
def test_values_are_shown_by_their_kind_and_written_raw(kind, value, shown, in_csv):
    assert report_values.display(kind, value) == shown
    assert report_values.csv_value(kind, value) == in_csv


def test_datetimes_are_shown_and_written_in_the_desks_time_zone(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    at = dt.datetime(2026, 3, 1, 1, 30, tzinfo=dt.UTC)
    assert report_values.csv_value(reports.DATETIME, at) == "2026-03-01 09:30"
    assert "9:30" in report_values.display(reports.DATETIME, at)


# ----------------------------------------------------------------------------- cost


def test_the_page_costs_the_same_queries_with_1_and_50_tickets(test_report, supervisor, make_org):
    client = _client(supervisor)
    client.get(URL)  # the session and the caches warm
    org = make_org(region="east")
    _tickets(org, 1)
    with CaptureQueriesContext(_connection()) as one:
        assert client.get(URL, {"period": "365"}).status_code == 200
    _tickets(org, 49, channel=Channel.EMAIL)
    _tickets(make_org(region="north"), 1, channel=Channel.PHONE)
    with CaptureQueriesContext(_connection()) as fifty:
        response = client.get(URL, {"period": "365"})
    assert [r[1] for r in _table_rows(response)] == ["49", "1", "1"]
    assert len(fifty) == len(one)


def _connection():
    from django.db import connection

    return connection


def _table_rows(response) -> list[list[str]]:
    html = response.content.decode()
    body = re.search(r'id="table-volume".*?<tbody>(.*?)</tbody>', html, re.S)
    if body is None:
        return []
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


# ----------------------------------------------------------------------------- links


def test_the_agents_home_and_the_user_tools_link_to_the_reports(east_agent, make_staff):
    for user in (east_agent, make_staff(roles=[roles.SUPERVISOR])):
        html = _client(user).get("/admin/").content.decode()
        assert html.count('href="/admin/reports/"') == 2  # the home and the user tools
    officer = make_staff(roles=[roles.COMPLIANCE])
    html = _client(officer).get("/admin/").content.decode()
    assert 'href="/admin/reports/"' not in html


# ----------------------------------------------------------------------------- every report


def _every_report_and_dimension() -> list[tuple[str, str]]:
    return [
        (report.key, key)
        for report in reports.all_reports()
        for key in [""] + [k for k, _label in report.dimensions]
    ]


def test_every_registered_report_renders_for_a_supervisor_on_an_empty_desk(test_report, supervisor):
    """Every report the apps registered (and this test's own, so the walk is never empty)."""
    client = _client(supervisor)
    cases = _every_report_and_dimension()
    assert (KEY, "organisation") in cases
    for key, by in cases:
        for query in ({"period": "30"}, {"period": "365"}):
            if by:
                query = {**query, "by": by}
            response = client.get(f"/admin/reports/{key}/", query)
            assert response.status_code == 200, (key, query, response.content[:2000])
            # And each of its tables as CSV, with the same filters.
            for link in re.findall(r'href="(\?[^"]*format=csv[^"]*)"', response.content.decode()):
                download = client.get(f"/admin/reports/{key}/" + link.replace("&amp;", "&"))
                assert download.status_code == 200, (key, query, link)
                assert download.content.startswith(b"\xef\xbb\xbf")
    index = client.get("/admin/reports/").content.decode()
    for report in reports.all_reports():
        assert f'href="/admin/reports/{report.key}/"' in index


def test_a_monthly_trend_names_its_months_not_their_first_days():
    from django.utils import translation

    from core.report_periods import bucket_column

    december = dt.date(2026, 12, 1)
    period = reports.Period(
        start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), end=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    )
    monthly = bucket_column(dataclasses.replace(period, bucket=reports.MONTH))
    daily = bucket_column(dataclasses.replace(period, bucket=reports.DAY))
    assert (monthly.kind, daily.kind) == (reports.YEAR_MONTH, reports.DATE)
    with translation.override("en"):
        assert report_values.display(monthly.kind, december) == "December 2026"
    with translation.override("zh-hans"):
        assert report_values.display(monthly.kind, december) == "2026年12月"
    assert report_values.csv_value(monthly.kind, december) == "2026-12"
    assert report_values.csv_value(daily.kind, december) == "2026-12-01"
