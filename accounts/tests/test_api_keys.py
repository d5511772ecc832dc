"""API keys in the admin: supervisors create them, the token is shown once, revoking works."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from accounts.models import ApiKey
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_supervisor_creates_a_key_and_sees_the_token_once(staff_client, make_org):
    client, supervisor = staff_client(roles=("supervisor",))
    org = make_org()
    response = client.post(
        "/admin/accounts/apikey/add/",
        {"organisation": org.pk, "name": "SAP connector", "scope": "read_write"},
    )
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    tokens = [t for text in texts for t in re.findall(r"wdk_[0-9a-f]{12}_\S+", text)]
    assert len(tokens) == 1
    key = ApiKey.objects.get()
    assert key.created_by == supervisor and key.scope == "read_write"
    assert tokens[0].split("_", 2)[2] not in key.secret_hash
    # Shown on the next page once (the message), afterwards the prefix only.
    first = client.get(response["Location"]).content.decode()
    assert tokens[0] in first
    page = client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert key.prefix in page and tokens[0] not in page
    assert AuditEvent.objects.filter(action="api_key.created", target_id=str(key.pk)).exists()
    # The token works against the API.
    from django.test import Client

    ok = Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {tokens[0]}")
    assert ok.status_code == 200 and ok.json()["organisation"]["id"] == org.pk
    used = AuditEvent.objects.get(action="api_key.used")
    assert used.actor_ref == f"api_key:{key.pk}" and used.data["route"] == "/api/v1/me/"


def test_agents_cannot_manage_keys(staff_client):
    client, _agent = staff_client(roles=("agent",))
    assert client.get("/admin/accounts/apikey/").status_code == 403
    assert client.get("/admin/accounts/apikey/add/").status_code == 403


def test_revoke_action(staff_client, make_org):
    from accounts.services.api_keys import api_key_authenticate, api_key_create

    client, supervisor = staff_client(roles=("supervisor",))
    key, token = api_key_create(actor=supervisor, organisation=make_org(), name="ERP")
    assert api_key_authenticate(token) == key
    response = client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_api_keys", "_selected_action": [key.pk]},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(token) is None


def test_empty_name_is_refused_with_a_message(make_org):
    from accounts.services.api_keys import api_key_create
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError) as err:
        api_key_create(actor=None, organisation=make_org(), name="  ")
    assert "name" in err.value.fields
    assert not ApiKey.objects.exists()
