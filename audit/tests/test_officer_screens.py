"""A compliance officer works without a shell: the export key and its fingerprint on the audit
screen, people named on it, and records of processing a regulator can read and print."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit import records, signing
from audit.models import AuditEvent
from audit.services import audit_record
from core import privacy
from testsupport import sign_in

pytestmark = pytest.mark.django_db

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"
EVENTS = reverse("admin:audit_auditevent_changelist")


@pytest.fixture
def officer(make_staff):
    return make_staff(roles=("compliance_officer",), full_name="Wang Fang")


# The export key -------------------------------------------------------------------------


def test_the_audit_screen_shows_the_public_key_with_its_fingerprint(client, officer):
    sign_in(client, officer)
    page = client.get(EVENTS).content.decode()
    public = signing.public_key_b64()
    digest = hashlib.sha256(base64.b64decode(public)).hexdigest()
    shown = re.search(r'class="key-fingerprint">([0-9a-f ]+)<', page).group(1)
    assert shown.replace(" ", "") == digest and len(shown.split()) == 16
    assert public in page
    assert "verify_audit_export.py" in page and reverse("admin:audit_public_key") in page


def test_the_pem_download_verifies_an_export_with_the_desks_verifier(client, officer, tmp_path):
    sign_in(client, officer)
    audit_record(action="ticket.viewed", actor=officer, target_type="tickets.ticket", target_id=1)
    response = client.get(reverse("admin:audit_public_key"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    assert "attachment" in response["Content-Disposition"]
    pem = response.content.decode()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "key.pem").write_text(pem)
    export = client.get(reverse("admin:audit_export"), {"format": "csv"})
    (tmp_path / "export.zip").write_bytes(b"".join(export.streaming_content))
    zipped, key = str(tmp_path / "export.zip"), str(tmp_path / "key.pem")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), zipped, "--public-key", key],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK:")


def test_the_key_is_for_audit_viewers_after_their_second_factor(client, make_staff, officer):
    url = reverse("admin:audit_public_key")
    sign_in(client, make_staff(roles=("agent",)))
    assert client.get(url).status_code == 403
    client.logout()
    sign_in(client, officer, verified=False)
    assert client.get(url).status_code != 200


# People named ---------------------------------------------------------------------------


def _events_by(people):
    for person in people:
        audit_record(action="user.viewed", actor=person, target=person)


def test_the_audit_screen_names_people_for_an_officer(client, officer, make_staff, make_customer):
    agent = make_staff(full_name="Li Na")
    customer = make_customer(full_name="Zhao Lei")
    audit_record(action="ticket.viewed", actor=agent, target=customer)
    sign_in(client, officer)
    page = client.get(EVENTS).content.decode()
    assert "Li Na (Agent)" in page
    assert "Zhao Lei (customer, " in page
    assert f"user:{agent.pk}</td>" not in page
    event = AuditEvent.objects.get(action="ticket.viewed")
    detail = client.get(reverse("admin:audit_auditevent_change", args=[event.seq]))
    detail = detail.content.decode()
    assert "Li Na (Agent)" in detail and "Zhao Lei (customer, " in detail


def test_without_the_right_to_see_accounts_the_audit_screen_stays_neutral(
    client, officer, make_staff
):
    agent = make_staff(full_name="Li Na")
    audit_record(action="ticket.viewed", actor=agent)
    Group.objects.get(name="compliance_officer").permissions.remove(
        Permission.objects.get(codename="view_user", content_type__app_label="accounts")
    )
    sign_in(client, officer)
    page = client.get(EVENTS).content.decode()
    assert "Li Na" not in page
    assert f"person #{agent.pk}" in page


def test_a_regional_viewer_sees_customers_of_other_regions_unnamed(make_staff, make_customer):
    from accounts.models import Region
    from audit import people

    north = make_staff(regions=[Region.objects.get(code="north")])
    customer = make_customer(full_name="Zhao Lei")  # East China
    colleague = make_staff(full_name="Li Na")
    refs = {f"user:{customer.pk}", f"user:{colleague.pk}", "system:sla"}
    labels = people.labels(north, refs)
    assert labels[f"user:{customer.pk}"] == f"person #{customer.pk}"
    assert labels[f"user:{colleague.pk}"] == "Li Na (Agent)"
    assert labels["system:sla"] == "the desk (sla)"
    east = make_staff()
    assert people.labels(east, refs)[f"user:{customer.pk}"].startswith("Zhao Lei (customer, ")


def test_naming_people_costs_the_same_for_one_event_and_many(client, officer, make_staff):
    _events_by([make_staff()])
    sign_in(client, officer)
    client.get(EVENTS)  # warm the session and content types
    with CaptureQueriesContext(connection) as one:
        assert client.get(EVENTS).status_code == 200
    _events_by([make_staff(full_name=f"Agent {n}") for n in range(20)])
    with CaptureQueriesContext(connection) as many:
        page = client.get(EVENTS).content.decode()
    assert page.count("(Agent)") >= 21
    assert len(many) == len(one)


def test_the_chain_itself_holds_references_not_names(make_staff):
    agent = make_staff(full_name="Li Na")
    audit_record(action="ticket.viewed", actor=agent, target=agent)
    event = AuditEvent.objects.get(action="ticket.viewed")
    assert event.actor_ref == f"user:{agent.pk}"
    assert "Li Na" not in str(event.data) + event.actor_ref + event.target_id


# Records of processing ------------------------------------------------------------------

RECORDS = reverse("admin:audit_records_of_processing")


def test_the_records_speak_to_a_regulator(client, officer):
    sign_in(client, officer)
    page = client.get(RECORDS).content.decode()
    for heading in (
        "Purpose",
        "Legal basis",
        "People concerned",
        "Personal data",
        "Recipients",
        "Retention",
        "Security measures",
    ):
        assert heading in page
    for activity in records.ACTIVITIES:
        assert str(activity.name) in page
    assert "12 months after the chat closes" in page  # the registry's retention, by category


def test_the_records_use_no_wording_from_the_code(client, officer):
    sign_in(client, officer)
    page = client.get(RECORDS).content.decode()
    body = page.split('id="content-main"')[1]
    words = {"core/privacy", "privacy.py", "registry", "<code>", "_bidx"}
    for entry in privacy.REGISTRY:
        words |= {entry.model, entry.model.lower(), entry.field}
    words -= {"email", "phone", "address", "body", "name", "comment", "term", "recipient"}
    words -= {"subject", "endpoint", "auth", "caller", "ip"}
    found = sorted(w for w in words if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", body))
    assert found == []


def test_every_sentence_of_the_records_is_translated():
    from django.utils.functional import Promise

    for activity in records.ACTIVITIES:
        assert all(isinstance(value, Promise) for value in vars(activity).values())
    assert all(isinstance(item, Promise) for item in records.SAFEGUARDS)


def test_the_records_have_a_printable_page(client, officer):
    sign_in(client, officer)
    response = client.get(RECORDS, {"format": "print"})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="header"' not in page and "records.css" in page
    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "records.css").read_text()
    assert "@media print" in css and "@page" in css
    zh = client.get(RECORDS, {"format": "print"}, headers={"accept-language": "zh-hans"})
    assert zh.status_code == 200 and '<html lang="zh-hans">' in zh.content.decode()


def test_the_records_are_for_audit_viewers_only(client, make_staff):
    sign_in(client, make_staff(roles=("agent",)))
    assert client.get(RECORDS).status_code == 403
    assert client.get(RECORDS, {"format": "print"}).status_code == 403
