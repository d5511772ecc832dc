"""Alertmanager's webhook: bearer token, payload checks, incidents opened, deduplicated by
fingerprint and resolved; and the alert rules shipped in deploy/prometheus/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from status.models import AlertLink, Component, Incident, IncidentState

pytestmark = pytest.mark.django_db

TOKEN = "alert-token-for-tests-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _token(settings):
    settings.ALERTMANAGER_TOKEN = TOKEN


def post(client, payload, token=TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return client.post(
        reverse("alertmanager-webhook"), body, content_type="application/json", **headers
    )


def alert(status="firing", fingerprint="a1b2c3", component="hotline-east", **labels):
    return {
        "status": status,
        "labels": {
            "alertname": "WeldDeskPhoneLineDown",
            "welddesk_component": component,
            "welddesk_severity": "sev2",
            **labels,
        },
        "annotations": {
            "summary": "Hotline East is not answering",
            "summary_zh": "华东热线无法接通",
            "description": "Please use the chat.",
        },
        "startsAt": "2026-11-25T08:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T09:00:00Z",
        "generatorURL": "http://prometheus.local/graph",
        "fingerprint": fingerprint,
    }


def webhook(*alerts, status="firing"):
    return {
        "version": "4",
        "groupKey": '{}:{alertname="WeldDeskPhoneLineDown"}',
        "status": status,
        "receiver": "welddesk",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "alerts": list(alerts),
    }


def test_the_token_is_required(client, components, settings):
    assert post(client, webhook(alert()), token=None).status_code == 401
    assert post(client, webhook(alert()), token="wrong").status_code == 401
    settings.ALERTMANAGER_TOKEN = ""  # not configured: off
    assert post(client, webhook(alert()), token="").status_code == 401
    assert client.get(reverse("alertmanager-webhook")).status_code == 405
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        {"version": "3", "alerts": [alert()]},
        {"version": "4", "alerts": []},
        {"version": "4", "alerts": [{**alert(), "status": "pending"}]},
        {"version": "4", "alerts": [{**alert(), "fingerprint": ""}]},
        {"version": "4", "alerts": [{**alert(), "startsAt": "yesterday"}]},
        {"version": "4", "alerts": [{**alert(), "labels": ["not", "an", "object"]}]},
    ],
)
def test_bad_payloads_get_400_and_change_nothing(client, components, payload):
    response = post(client, payload)
    assert response.status_code == 400 and response.json()["error"]["message"]
    assert not Incident.objects.exists()


def test_an_alert_opens_once_and_its_resolution_resolves(client, components):
    first = post(client, webhook(alert(welddesk_publish="true")))
    assert first.status_code == 200 and first.json()["opened"] == 1
    incident = Incident.objects.get()
    assert incident.is_published and incident.severity.key == "sev2"
    assert incident.title_zh == "华东热线无法接通" and incident.created_by == "system:alertmanager"
    assert Component.objects.get(key="hotline-east").status == "major_outage"
    again = post(client, webhook(alert(welddesk_publish="true")))
    assert again.json() == {"opened": 0, "updated": 0, "resolved": 0, "unchanged": 1, "ignored": 0}
    assert Incident.objects.count() == 1
    changed = alert(welddesk_publish="true")
    changed["annotations"]["description"] = "Answer rate now 12 %. Please use the chat."
    assert post(client, webhook(changed)).json()["updated"] == 1
    assert incident.updates.order_by("-at", "-pk").first().body_en.startswith("Answer rate now")
    done = post(client, webhook(alert("resolved"), status="resolved"))
    assert done.json()["resolved"] == 1
    incident.refresh_from_db()
    assert incident.state == IncidentState.RESOLVED
    assert Component.objects.get(key="hotline-east").status == "operational"
    assert not AlertLink.objects.get().firing
    # The same alert firing again later is a new incident.
    assert post(client, webhook(alert(welddesk_publish="true"))).json()["opened"] == 1
    assert Incident.objects.count() == 2


def test_without_the_publish_label_the_incident_is_a_draft(client, components):
    assert post(client, webhook(alert())).json()["opened"] == 1
    incident = Incident.objects.get()
    assert not incident.is_published
    assert Component.objects.get(key="hotline-east").status == "operational"


def test_alerts_for_unknown_components_are_ignored_not_refused(client, components):
    response = post(client, webhook(alert(component="hotline-mars"), alert(fingerprint="z9")))
    assert response.status_code == 200
    assert response.json() == {
        "opened": 1,
        "updated": 0,
        "resolved": 0,
        "unchanged": 0,
        "ignored": 1,
    }


def test_the_shipped_rules_are_valid_and_carry_the_desks_labels():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/welddesk-rules.yml").read_text())
    found = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    for name, rule in found.items():
        assert rule["expr"].strip(), name
        assert rule["labels"]["welddesk_severity"] in {"sev1", "sev2", "sev3", "sev4"}, name
        assert "welddesk_component" in rule["labels"] or "welddesk_component" in rule["expr"]
        assert rule["annotations"]["summary"] and rule["annotations"]["summary_zh"], name
    answer_rate = found["WeldDeskPhoneAnswerRateLow"]
    assert "< 0.9" in answer_rate["expr"] and "[15m]" in answer_rate["expr"]
    manager = yaml.safe_load((ROOT / "deploy/prometheus/alertmanager.yml").read_text())
    hook = manager["receivers"][0]["webhook_configs"][0]
    assert hook["url"].endswith("/api/v1/alerts/alertmanager") and hook["send_resolved"]
