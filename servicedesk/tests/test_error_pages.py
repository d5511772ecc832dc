"""With DEBUG off, a refused or missing page is a page of the desk in the reader's language,
not Django's bare English "Not Found" / "403 Forbidden"."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts import roles
from testsupport import sign_in

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=False)
def test_a_missing_page_is_the_desks_page_in_chinese(client, make_customer):
    sign_in(client, make_customer(language="zh-hans"))
    response = client.get("/portal/tickets/999999/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 404
    page = response.content.decode()
    assert "找不到页面" in page and "Not Found" not in page


@override_settings(DEBUG=False)
def test_a_refused_admin_page_is_the_desks_page_in_chinese(client, make_staff):
    agent = make_staff(roles=(roles.AGENT,), language="zh-hans")
    sign_in(client, agent)
    response = client.get("/admin/django_celery_beat/periodictask/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 403
    page = response.content.decode()
    assert "无权访问" in page and "Forbidden" not in page
