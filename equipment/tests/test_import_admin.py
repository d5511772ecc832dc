"""The admin's import page and export actions: who may, preview, apply, bad files."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from equipment.importing import import_installed_base
from equipment.models import Unit
from equipment.tests.conftest import base_row, csv_bytes
from testsupport import sign_in

pytestmark = pytest.mark.django_db
URL = "/admin/equipment/unit/import/"


def _upload(client, data: bytes, name: str = "base.csv", **extra):
    return client.post(URL, {"file": SimpleUploadedFile(name, data), **extra})


def test_the_page_is_for_supervisors_only(staff_client, catalogue):
    assert reverse("admin:equipment_unit_import") == URL
    agent, _ = staff_client(roles=("agent",))
    assert agent.get(URL).status_code == 403
    assert _upload(agent, csv_bytes([base_row()])).status_code == 403
    assert not Unit.objects.exists()


def test_a_supervisor_previews_then_applies(staff_client, catalogue, base_file):
    client, supervisor = staff_client(roles=("supervisor",))
    page = client.get("/admin/equipment/unit/")
    assert URL in page.content.decode()

    preview = _upload(client, base_file)

    assert preview.status_code == 200
    html = preview.content.decode()
    assert "HW2000-2026-0001" in html and "RC3000-2026-0002" in html
    assert not Unit.objects.exists()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)

    applied = client.post(URL, {"token": token})

    assert applied.status_code == 302
    assert Unit.objects.count() == 2
    (event,) = AuditEvent.objects.filter(action="installed_base.imported")
    assert event.actor_ref == f"user:{supervisor.pk}"
    # The token was spent: the stored file is gone.
    assert client.post(URL, {"token": token}).status_code == 400


def test_another_persons_token_or_a_forged_one_is_refused(
    staff_client, make_staff, catalogue, base_file
):
    first, _ = staff_client(roles=("supervisor",))
    html = _upload(first, base_file).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    second_client = Client()
    sign_in(second_client, make_staff(roles=("supervisor",)))
    assert second_client.post(URL, {"token": token}).status_code == 400
    assert first.post(URL, {"token": token + "x"}).status_code == 400
    assert not Unit.objects.exists()


def test_rows_with_errors_show_them_and_offer_no_apply(staff_client, catalogue):
    client, _ = staff_client(roles=("supervisor",))

    response = _upload(client, csv_bytes([base_row(warranty_ends_on="2020-01-01")]))

    assert response.status_code == 400
    html = response.content.decode()
    assert "line 2, warranty_ends_on: Before installed_on." in html
    assert 'name="token"' not in html


def test_a_bad_file_is_a_400_with_the_reason(staff_client, catalogue):
    client, _ = staff_client(roles=("supervisor",))

    response = _upload(client, b"\x00\x01\x02 binary", name="base.csv")

    assert response.status_code == 400
    assert "neither an XLSX workbook nor a CSV" in response.content.decode()
    wrong_header = _upload(client, b"a,b,c\n1,2,3\n")
    assert wrong_header.status_code == 400
    assert "missing: organisation_code" in wrong_header.content.decode()
    assert client.post(URL, {}).status_code == 400


def test_the_export_action_gives_the_selected_units(staff_client, catalogue, base_file):
    client, _ = staff_client(roles=("supervisor",))
    import_installed_base(data=base_file, actor=None)
    unit = Unit.objects.get(serial_number="RC3000-2026-0002")

    response = client.post(
        "/admin/equipment/unit/",
        {"action": "export_csv", "_selected_action": [unit.pk]},
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    text = response.content.decode("utf-8-sig")
    assert "RC3000-2026-0002" in text and "HW2000-2026-0001" not in text
    assert AuditEvent.objects.filter(action="installed_base.exported").exists()
    agent, _ = staff_client(roles=("agent",))
    refused = agent.post(
        "/admin/equipment/unit/", {"action": "export_csv", "_selected_action": [unit.pk]}
    )
    # An agent is not offered the action: the list comes back, no file.
    assert refused.status_code == 200 and not refused.get("Content-Disposition")
