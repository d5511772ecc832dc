"""Inputs Django's admin draws without a label get one (axe rules "label", "select-name").

The browser test (test_accessibility.py) finds these on every page; these tests pin the three
project overrides without a browser.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff_client):
    client, _user = staff_client(roles=(), is_superuser=True, regions=[])
    return client


def test_list_editable_inputs_are_named_by_column_and_row(admin_client):
    from status.models import ComponentGroup

    ComponentGroup.objects.create(key="a11y", name_en="Robotic cells", name_zh="机器人", position=3)
    page = admin_client.get(reverse("admin:status_componentgroup_changelist")).content.decode()
    field = re.search(r'<input[^>]*name="form-\d+-position"[^>]*>', page).group(0)
    assert 'aria-label="Position: Robotic cells"' in field


def test_tabular_inline_cells_have_labels(admin_client):
    page = admin_client.get(reverse("admin:status_severity_add")).content.decode()
    assert re.search(r'<label class="visually-hidden" for="id_steps-0-text">[^<]+</label>', page)


def test_split_date_time_inputs_have_labels(admin_client):
    page = admin_client.get(reverse("admin:status_drill_add")).content.decode()
    assert re.search(r'<label for="id_scheduled_for_0">[^<]+</label>', page)
    assert re.search(r'<label for="id_scheduled_for_1">[^<]+</label>', page)
