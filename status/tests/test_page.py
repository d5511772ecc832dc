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


def test_uptime_weights_each_status_by_its_time(components):
    """A day with 6 hours of major outage and 12 hours degraded: 100 - 25 - 5 = 70 %."""
    east = components["east"]
    tz = timezone.get_current_timezone()
    day = timezone.localdate() - dt.timedelta(days=3)
    midnight = timezone.make_aware(dt.datetime.combine(day, dt.time()), tz)
    east.created_at = midnight - dt.timedelta(days=30)
    east.save(update_fields=["created_at"])
    for hours, to_status in ((0, "major_outage"), (6, "degraded"), (18, "operational")):
        ComponentStatusChange.objects.create(
            component=east,
            from_status="operational",
            to_status=to_status,
            at=midnight + dt.timedelta(hours=hours),
            changed_by="system:test",
        )
    days = selectors.uptime(components=[east], now=timezone.now())[east.pk]
    assert len(days) == selectors.UPTIME_DAYS
    by_date = {d.date: d for d in days}
    assert by_date[day].uptime == 70.0 and by_date[day].worst == "major_outage"
    assert by_date[day - dt.timedelta(days=1)].uptime == 100.0
    # Before the component existed there is no bar.
    assert days[0].uptime is None
    # The period's figure weights the days by the time observed.
    assert selectors.uptime_percent(days) < 100.0


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
