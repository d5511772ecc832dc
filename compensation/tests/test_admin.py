"""The supervisors' screens: assess, approve one by one or all, reverse, totals and CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from compensation.models import Assessment, Grant, GrantKind, GrantStatus
from testsupport import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def assessed(make_affected, make_incident, outage_policy):
    orgs = [make_affected(name).organisation for name in ('=HYPERLINK("http://evil")', "Plain Co")]
    return make_incident(), orgs


def test_a_supervisor_assesses_and_approves_in_the_admin(
    client, supervisor, assessed, django_capture_on_commit_callbacks
):
    incident, _orgs = assessed
    sign_in(client, supervisor)
    page = client.get(reverse("admin:compensation_assess"))
    assert page.status_code == 200 and "Hotline East down" in page.content.decode()
    bad = client.post(reverse("admin:compensation_assess"), {})
    assert bad.status_code == 400
    assert "Give an incident number or a ticket reference." in bad.content.decode()
    response = client.post(reverse("admin:compensation_assess"), {"incident": incident.pk})
    assessment = Assessment.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:compensation_assessment_change", args=[assessment.pk])
    detail = client.get(response.url)
    assert detail.status_code == 200
    assert "Approve and apply all 6 grants" in detail.content.decode()
    # One grant through the list's action, with its confirmation page.
    one = Grant.objects.filter(kind=GrantKind.VOUCHER).order_by("pk").first()
    changelist = reverse("admin:compensation_grant_changelist")
    confirm = client.post(changelist, {"action": "approve", helpers.ACTION_CHECKBOX_NAME: [one.pk]})
    assert confirm.status_code == 200 and b"Approve and apply grants" in confirm.content
    client.post(
        changelist,
        {"action": "approve", "apply": "yes", helpers.ACTION_CHECKBOX_NAME: [one.pk]},
    )
    one.refresh_from_db()
    assert one.status == GrantStatus.APPLIED and one.decided_by == supervisor
    # Rejecting everything left needs a reason.
    decide = reverse("admin:compensation_assessment_decide", args=[assessment.pk])
    client.post(decide, {"decision": "reject", "reason": ""})
    assert Grant.objects.filter(status=GrantStatus.PROPOSED).count() == 5
    with django_capture_on_commit_callbacks(execute=True):  # the queued bulk approval
        client.post(decide, {"decision": "approve"})
    assert Grant.objects.filter(status=GrantStatus.APPLIED).count() == 6
    # Reverse one with a reason.
    client.post(
        changelist,
        {
            "action": "reverse",
            "apply": "yes",
            "reason": "Duplicate",
            helpers.ACTION_CHECKBOX_NAME: [one.pk],
        },
    )
    one.refresh_from_db()
    assert one.status == GrantStatus.REVERSED and one.reversal_reason == "Duplicate"


def test_totals_per_event_customer_and_month_and_a_safe_csv(client, supervisor, assessed):
    from compensation import services

    incident, _orgs = assessed
    services.assess_incident(incident=incident, actor=supervisor)
    services.grants_approve(grant_ids=Grant.objects.values_list("pk", flat=True), actor=supervisor)
    sign_in(client, supervisor)
    url = reverse("admin:compensation_totals")
    for group, cells in (("incident", 1), ("month", 1), ("organisation", 0)):
        page = client.get(url, {"group": group}).content.decode()
        assert page.count("<td>2000.00</td>") == cells  # two 1000 CNY vouchers together
        assert page.count("<td>1000.00</td>") == 2 * (1 - cells)  # or one per customer
    assert "Incident #" in client.get(url, {"group": "incident"}).content.decode()
    export = client.get(url, {"group": "organisation", "format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][0] == "Customer"
    names = sorted(row[0] for row in rows[1:])
    # A name that a spreadsheet would run as a formula is escaped.
    assert names == ['\'=HYPERLINK("http://evil")', "Plain Co"]
    assert all(row[2] == "3" for row in rows[1:])
    from audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="compensation.totals_exported").count() == 1


def test_agents_cannot_decide_or_assess(client, make_staff, assessed):
    agent = make_staff()
    sign_in(client, agent)
    assert client.get(reverse("admin:compensation_assess")).status_code == 403
    assert client.get(reverse("admin:compensation_grant_changelist")).status_code == 403


def test_the_grant_list_has_a_query_budget(client, supervisor, assessed, make_affected):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compensation import services

    incident = assessed[0]
    services.assess_incident(incident=incident, actor=supervisor)
    sign_in(client, supervisor)
    url = reverse("admin:compensation_grant_changelist")
    client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for n in range(4):
        make_affected(f"More {n}", minutes=30 + n)
    assert services.assess_incident(incident=incident, actor=supervisor).proposed == 12
    with CaptureQueriesContext(connection) as more:
        response = client.get(url)
    assert response.content.decode().count('class="action-select"') == 18
    assert len(more) == len(few)


def test_assessments_name_who_ran_them_in_a_fixed_number_of_queries(
    client, supervisor, make_staff, make_incident, outage_policy
):
    """The row keeps "user:<id>"; the screen names the person for a viewer allowed to see
    people, resolved for the whole page at once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compensation import services

    services.assess_incident(incident=make_incident(), actor=supervisor)
    sign_in(client, supervisor)
    url = reverse("admin:compensation_assessment_changelist")
    client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as one:
        page = client.get(url).content.decode()
    assert f"{supervisor.full_name} (Supervisor)" in page
    for n in range(3):
        lead = make_staff(roles=("supervisor",), full_name=f"Lead {n}")
        services.assess_incident(incident=make_incident(), actor=lead)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert all(f"Lead {n} (Supervisor)" in page for n in range(3))
    assert len(many) == len(one)
    assessment = Assessment.objects.get(assessed_by=f"user:{supervisor.pk}")
    assert assessment.assessed_by == f"user:{supervisor.pk}"
    detail = client.get(reverse("admin:compensation_assessment_change", args=[assessment.pk]))
    assert f"{supervisor.full_name} (Supervisor)" in detail.content.decode()


def test_assessments_stay_neutral_for_a_viewer_not_allowed_to_see_people(
    client, supervisor, make_incident, outage_policy
):
    from django.contrib.auth.models import Group, Permission

    from compensation import services

    services.assess_incident(incident=make_incident(), actor=supervisor)
    Group.objects.get(name="supervisor").permissions.remove(
        Permission.objects.get(codename="view_user", content_type__app_label="accounts")
    )
    sign_in(client, supervisor)
    page = client.get(reverse("admin:compensation_assessment_changelist")).content.decode()
    assert supervisor.full_name not in page.split('id="result_list"')[1]
    assert f"person #{supervisor.pk}" in page
