"""The public status page, its JSON and Atom feed, uptime bars, and the portal's banners."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from status import selectors, services
from status.models import ComponentStatusChange

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def outage(components, sev, make_staff):
    incident = services.incident_open(
        actor=make_staff(roles=("supervisor",)),
        severity=sev["sev2"],
        title_en="Hotline East unreachable",
        title_zh="华东热线无法接通",
        components={components["east"]: "major_outage"},
        body_en="Please use the chat or the portal meanwhile.",
        body_zh="请暂时使用在线客服或客户门户。",
        cause_en="Carrier trunk failure",
        cause_zh="运营商中继故障",
        expected_recovery=timezone.now() + dt.timedelta(hours=2),
    )
    services.incident_open(
        actor="system:alertmanager",
        severity=sev["sev3"],
        title_en="A draft nobody may see",
        title_zh="草稿",
        components={components["chat"]: "degraded"},
        body_en="draft",
        body_zh="草稿",
        publish=False,
    )
    return incident


def test_the_page_is_public_and_shows_the_outage_in_both_languages(client, outage):
    page = client.get(reverse("status:page"))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Hotline East unreachable" in body and "Carrier trunk failure" in body
    assert "Major outage" in body and "A draft nobody may see" not in body
    assert "Some channels have problems" in body
    chinese = client.get(reverse("status:page"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = chinese.content.decode()
    assert "华东热线无法接通" in text
    assert "运营商中继故障" in text and "重大中断" in text


def test_an_incident_page_shows_its_updates_and_drafts_are_404(client, outage):
    assert client.get(reverse("status:incident", args=[outage.pk])).status_code == 200
    draft = outage.__class__.objects.get(title_en="A draft nobody may see")
    assert client.get(reverse("status:incident", args=[draft.pk])).status_code == 404


def test_the_json_api_lists_components_incidents_and_uptime(client, outage, components):
    data = client.get(reverse("status:summary")).json()
    assert data["overall"] == "major_outage"
    by_key = {c["key"]: c for c in data["components"]}
    assert by_key["hotline-east"]["status"] == "major_outage"
    assert by_key["chat"]["status"] == "operational"  # the draft changes nothing
    (incident,) = data["incidents"]
    assert incident["title"]["zh"] == "华东热线无法接通" and incident["severity"] == "sev2"
    assert incident["components"] == ["hotline-east"] and incident["expected_recovery"]
    assert incident["updates"][0]["body"]["en"].startswith("Please use the chat")


def test_the_atom_feed_is_valid_atom(client, outage):
    response = client.get(reverse("status:feed"))
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own response, in a test)
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{required}") is not None, required
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 1  # the draft's update is not in it
    for required in ("id", "title", "updated", "link"):
        assert entries[0].find(f"{ATOM}{required}") is not None, required
    assert "Hotline East unreachable" in entries[0].find(f"{ATOM}title").text
    import feedparser

    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10" and len(parsed.entries) == 1


def test_an_empty_feed_is_still_valid(client):
    import feedparser

    parsed = feedparser.parse(client.get(reverse("status:feed")).content)
    assert not parsed.bozo and parsed.version == "atom10" and parsed.entries == []


def _outage(sev, component, impact, start, minutes, title="Outage"):
    """A published incident declared with the time it began, resolved `minutes` later."""
    incident = services.incident_open(
        actor="system:test",
        severity=sev["sev3"],
        title_en=title,
        title_zh=title,
        components={component: impact},
        body_en="Down",
        body_zh="中断",
        started_at=start,
    )
    services.incident_update(
        incident=incident,
        actor="system:test",
        state="resolved",
        body_en="Back",
        body_zh="恢复",
        at=start + dt.timedelta(minutes=minutes),
    )
    incident.refresh_from_db()
    return incident


def _midnight(day):
    return timezone.make_aware(dt.datetime.combine(day, dt.time()), timezone.get_current_timezone())


def test_uptime_weights_each_status_by_its_time(components, sev):
    """A day with 6 hours of major outage and 12 hours degraded: 100 - 25 - 5 = 70 %."""
    east = components["east"]
    day = timezone.localdate() - dt.timedelta(days=3)
    midnight = _midnight(day)
    east.created_at = midnight - dt.timedelta(days=30)
    east.save(update_fields=["created_at"])
    _outage(sev, east, "major_outage", midnight, 6 * 60)
    _outage(sev, east, "degraded", midnight + dt.timedelta(hours=6), 12 * 60)
    days = selectors.uptime(components=[east], now=timezone.now())[east.pk]
    assert len(days) == selectors.UPTIME_DAYS
    by_date = {d.date: d for d in days}
    assert by_date[day].uptime == 70.0 and by_date[day].worst == "major_outage"
    assert [(i["status"], i["minutes"]) for i in by_date[day].impacts] == [
        ("major_outage", 360.0),
        ("degraded", 720.0),
    ]
    assert by_date[day - dt.timedelta(days=1)].uptime == 100.0
    # Before the component existed there is no bar.
    assert days[0].uptime is None
    # The period's figure weights the days by the time observed.
    assert selectors.uptime_percent(days) < 100.0


def test_a_three_day_old_component_is_measured_over_its_three_days_only(components, sev):
    """Created 3 days ago, one partial outage of 10 minutes: the figure is the formula of
    docs/status-page.md over those 3 days, and the other 87 days of the 90 have no data."""
    chat = components["chat"]
    now = _midnight(timezone.localdate())
    chat.created_at = now - dt.timedelta(days=3)
    chat.save(update_fields=["created_at"])
    outage = _outage(sev, chat, "partial_outage", now - dt.timedelta(days=2, hours=-9), 10)

    days = selectors.uptime(components=[chat], now=now)[chat.pk]
    figure = selectors.uptime_figure(days)

    # Recomputed from the history: half of the outage's seconds count as downtime (partial),
    # over the seconds the component existed.
    down = 0.5 * (outage.resolved_at - outage.started_at).total_seconds()
    observed = (now - chat.created_at).total_seconds()
    assert down == 300 and observed == 3 * 86400
    assert figure.percent == 99.884  # 100 × (1 − 300 / 259,200) = 99.8842...
    assert figure.percent == pytest.approx(100 * (1 - down / observed), abs=0.001)
    assert figure.days_with_data == 3
    assert len(days) == 90 and sum(1 for d in days if d.uptime is None) == 87
    assert all(d.uptime is None and not d.seconds for d in days[:-4] + days[-1:])
    (impacted,) = figure.impacted
    assert impacted.date == timezone.localtime(outage.started_at).date()
    assert impacted.uptime == 99.65  # 100 × (1 − 300 / 86,400) = 99.652...
    assert impacted.impacts == [
        {"status": "partial_outage", "label": "Partial outage", "minutes": 10.0, "seconds": 600}
    ]


def test_overlapping_incidents_count_once_at_the_gravest_and_maintenance_not_at_all(
    components, sev
):
    east = components["east"]
    day = timezone.localdate() - dt.timedelta(days=5)
    noon = _midnight(day) + dt.timedelta(hours=12)
    east.created_at = noon - dt.timedelta(days=40)
    east.save(update_fields=["created_at"])
    _outage(sev, east, "degraded", noon, 60)  # 12:00-13:00
    _outage(sev, east, "major_outage", noon + dt.timedelta(minutes=30), 60)  # 12:30-13:30
    for at, to_status in ((20, "maintenance"), (22, "operational")):  # 20:00-22:00
        ComponentStatusChange.objects.create(
            component=east,
            from_status="operational",
            to_status=to_status,
            at=_midnight(day) + dt.timedelta(hours=at),
            changed_by="system:maintenance",
        )
    (d,) = [
        d for d in selectors.uptime(components=[east], now=timezone.now())[east.pk] if d.date == day
    ]
    assert {i["status"]: i["minutes"] for i in d.impacts} == {
        "major_outage": 60.0,
        "degraded": 30.0,
        "maintenance": 120.0,
    }
    assert d.uptime == 95.62  # 100 × (1 − (3,600 + 0.1 × 1,800) / 86,400) = 95.625


def test_the_page_and_the_json_give_the_minutes_of_each_impact(client, components, sev):
    chat = components["chat"]
    chat.created_at = timezone.now() - dt.timedelta(days=3)
    chat.save(update_fields=["created_at"])
    # At noon of the day before yesterday: ten minutes that never straddle a midnight.
    noon = timezone.localtime(timezone.now() - dt.timedelta(days=2)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    outage = _outage(sev, chat, "partial_outage", noon, 10)
    selectors.forget_summary()

    data = client.get(reverse("status:summary")).json()
    (item,) = [c for c in data["components"] if c["key"] == "chat"]
    observed = (timezone.now() - chat.created_at).total_seconds()
    assert item["uptime_90d"] == pytest.approx(100 * (1 - 300 / observed), abs=0.001)
    assert item["uptime_days_with_data"] == 4  # two full days between two partial ones
    day = timezone.localtime(outage.started_at).date().isoformat()
    assert item["uptime_impacts"] == [
        {
            "date": day,
            "uptime": 99.65,
            "minutes": {"partial_outage": 10.0},
            "seconds": {"partial_outage": 600},
        }
    ]

    body = client.get(reverse("status:page")).content.decode()
    assert f"{day}: 99.65 % · Partial outage 10 min" in body
    assert "(over the 4 days with data)" in body
    assert body.count(": no data") >= 86
    chinese = client.get(reverse("status:page"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "部分中断 10" in chinese.content.decode()


def test_uptime_costs_the_same_queries_for_one_component_or_many(components, sev, db):
    from status.models import Component

    def cost(shown):
        with CaptureQueriesContext(connection) as queries:
            selectors.uptime(components=shown, now=timezone.now())
        return len(queries)

    east = components["east"]
    start = timezone.now() - dt.timedelta(days=20)
    _outage(sev, east, "major_outage", start, 30)
    one = cost([east])
    for n in range(8):
        _outage(sev, components["south"], "degraded", start + dt.timedelta(days=n), 15 + n)
        _outage(sev, components["chat"], "partial_outage", start + dt.timedelta(hours=n), 5)
    many = cost(list(Component.objects.all()))
    assert one == many == 3


def test_the_page_keeps_its_query_budget(client, components, sev):
    def open_one(n):
        incident = services.incident_open(
            actor="system",
            severity=sev["sev3"],
            title_en=f"Slow {n}",
            title_zh=f"缓慢 {n}",
            components={components["chat"]: "degraded", components["south"]: "degraded"},
            body_en="Looking",
            body_zh="查看中",
        )
        services.incident_update(
            incident=incident, actor="system", state="identified", body_en="x", body_zh="x"
        )

    open_one(0)
    client.get(reverse("status:page"))
    selectors.forget_summary()
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("status:page"))
    for n in range(1, 7):
        open_one(n)
    selectors.forget_summary()
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("status:page"))
    assert len(many) == len(few)
    # And a second visit within the cache's life costs no status query at all.
    with CaptureQueriesContext(connection) as cached:
        client.get(reverse("status:page"))
    assert not [q for q in cached.captured_queries if "status_" in q["sql"]]


def test_the_portal_shows_a_banner_for_the_customers_region_only(
    client, outage, make_customer, make_org, django_capture_on_commit_callbacks
):
    from testsupport import sign_in

    east_customer = make_customer(org=make_org(region="east"))
    north_customer = make_customer(org=make_org(region="north"))
    sign_in(client, east_customer)
    page = client.get(reverse("portal:home")).content.decode()
    assert "Hotline East unreachable" in page and "Carrier trunk failure" in page
    sign_in(client, north_customer)
    assert "Hotline East unreachable" not in client.get(reverse("portal:home")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the cached summary is dropped
        services.incident_update(
            incident=outage, actor="system", state="resolved", body_en="Back", body_zh="恢复"
        )
    sign_in(client, east_customer)
    assert "Hotline East unreachable" not in client.get(reverse("portal:home")).content.decode()


def test_the_page_and_the_json_cost_the_same_for_one_component_or_many(client, db, sev):
    from status.models import Component, ComponentGroup

    group = ComponentGroup.objects.create(key="centres", name_en="Centres", name_zh="服务中心")

    def add(n):
        component = Component.objects.create(
            group=group, key=f"centre-{n}", name_en=f"Centre {n}", name_zh=f"中心 {n}", kind="other"
        )
        _outage(sev, component, "partial_outage", timezone.now() - dt.timedelta(days=n + 1), 10)
        return component

    def cost(url):
        selectors.forget_summary()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    add(0)
    few = (cost(reverse("status:page")), cost(reverse("status:summary")))
    for n in range(1, 9):
        add(n)
    many = (cost(reverse("status:page")), cost(reverse("status:summary")))
    assert few == many
