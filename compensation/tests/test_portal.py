"""What customers see: their compensation history, the warranty change, the public report."""

from __future__ import annotations

import pytest
from django.urls import reverse

from compensation import services
from compensation.models import Grant, GrantKind
from status import services as status_services
from testsupport import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def applied(make_affected, make_incident, outage_policy, supervisor):
    people = [make_affected(name) for name in ("Mine Co", "Theirs Co")]
    incident = make_incident()
    services.assess_incident(incident=incident, actor=supervisor)
    services.grants_approve(grant_ids=Grant.objects.values_list("pk", flat=True), actor=supervisor)
    return incident, people


def test_a_customer_sees_their_own_compensation_only(client, applied):
    _incident, (mine, theirs) = applied
    sign_in(client, mine)
    page = client.get(reverse("portal:compensation")).content.decode()
    assert "Warranty extended by 2 days on 1 machine(s)" in page
    assert "Maintenance voucher worth CNY 1000.00" in page
    own = Grant.objects.get(organisation=mine.organisation, kind=GrantKind.VOUCHER)
    other = Grant.objects.get(organisation=theirs.organisation, kind=GrantKind.VOUCHER)
    assert own.voucher.code in page and other.voucher.code not in page
    assert "Hotline East down" in page


def test_the_history_page_has_a_query_budget(client, applied, django_assert_max_num_queries):
    _incident, (mine, _theirs) = applied
    sign_in(client, mine)
    url = reverse("portal:compensation")
    client.get(url)
    with django_assert_max_num_queries(12) as captured:
        client.get(url)
    grants = Grant.objects.filter(organisation=mine.organisation).count()
    assert grants == 3  # three rows drawn with no query per row
    assert len(captured) <= 12


def test_an_empty_history_says_so(client, make_customer):
    customer = make_customer()
    sign_in(client, customer)
    page = client.get(reverse("portal:compensation")).content.decode()
    assert "Your company has received no compensation so far." in page


def test_the_machine_page_shows_the_warranty_change(client, applied):
    _incident, (mine, _theirs) = applied
    unit = mine.organisation.units.get()
    sign_in(client, mine)
    page = client.get(reverse("portal:machine", args=[unit.serial_number])).content.decode()
    assert "Warranty changes" in page
    assert "+2 days" in page and "Compensation for" in page


def test_the_public_report_states_compensation_in_aggregate(client, applied, supervisor):
    incident, (mine, _theirs) = applied
    url = reverse("status:report", args=[incident.pk])
    assert client.get(url).status_code == 404  # not published yet
    status_services.report_publish(
        incident=incident,
        actor=supervisor,
        done_en="We moved calls to the backup carrier.",
        done_zh="我们将电话切换到备用运营商。",
    )
    page = client.get(url).content.decode()
    assert "A carrier trunk failed." in page
    assert "We moved calls to the backup carrier." in page
    assert "Customers compensated" in page
    assert "2 vouchers worth CNY 2000.00 in all" in page
    assert mine.organisation.name not in page  # aggregate only
    status_page = client.get(reverse("status:page")).content.decode()
    assert url in status_page
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "我们将电话切换到备用运营商。" in chinese


def test_a_report_needs_a_resolved_public_incident(make_incident, supervisor):
    from core.errors import ApplicationError

    ongoing = make_incident(resolve=False)
    with pytest.raises(ApplicationError):
        status_services.report_publish(incident=ongoing, actor=supervisor, done_en="x", done_zh="x")
