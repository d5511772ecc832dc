"""The verification snippets of docs/webhooks.md, run against real deliveries: what partners
copy must accept the desk's signature and refuse a forged or stale request."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from notifications import endpoints, services
from notifications.messages import Event, notify_organisation
from notifications.models import EventType, Outbox, Status

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def snippet(language: str) -> str:
    """The first block of the language under "Verifying a delivery"."""
    section = DOC.read_text().split("## Verifying a delivery", 1)[1]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def delivery(make_org, make_staff, webhook_receiver):
    """One real delivery as the partner's system received it, and the endpoint's secret."""
    org = make_org()
    _endpoint, secret = endpoints.endpoint_register(
        actor=make_staff(roles=("supervisor",)),
        organisation=org,
        url=webhook_receiver.url("/erp"),
        events=[EventType.TICKET_OPENED],
    )
    notify_organisation(
        organisation_id=org.pk,
        key="ticket:1:v1",
        events=[
            Event(
                type=EventType.TICKET_OPENED,
                data={"ticket": {"reference": "WD-2026-000001", "subject": "焊缝气孔"}},
                occurred_at=dt.datetime.now(dt.UTC),
            )
        ],
    )
    for _round in range(2):  # the event row, then its delivery
        for pk in Outbox.objects.filter(status=Status.PENDING).values_list("pk", flat=True):
            services.outbox_deliver(outbox_id=pk)
    (request,) = webhook_receiver.at("/erp")
    return request, secret


def test_the_python_snippet_accepts_a_delivery_and_refuses_forgeries(delivery):
    request, secret = delivery
    scope: dict = {}
    exec(snippet("python"), scope)  # noqa: S102 - the documented code, as partners run it
    verify = scope["verify"]
    headers = {name.title(): value for name, value in request["headers"].items()}
    event = verify(headers, request["body"], secret)
    assert event["type"] == "ticket.opened" and event["ticket"]["subject"] == "焊缝气孔"
    with pytest.raises(ValueError, match="bad signature"):
        verify(headers, request["body"].replace(b"WD-2026", b"WD-2025"), secret)
    with pytest.raises(ValueError, match="bad signature"):
        verify(headers, request["body"], "whsec_" + "x" * 43)
    stale = {**headers, "X-Welddesk-Timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(ValueError, match="stale"):
        verify(stale, request["body"], secret)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_the_openssl_snippet_accepts_a_delivery_and_refuses_a_changed_body(delivery, tmp_path):
    request, secret = delivery

    def run(body: bytes) -> str:
        (tmp_path / "body.json").write_bytes(body)
        env = {
            "PATH": "/usr/bin:/bin",
            "TS": request["headers"]["x-welddesk-timestamp"],
            "SIG": request["headers"]["x-welddesk-signature"],
            "SECRET": secret,
        }
        done = subprocess.run(  # the documented shell lines
            ["bash", "-c", snippet("sh")], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        return done.stdout.strip()

    assert run(request["body"]) == "genuine"
    assert run(request["body"] + b" ") == "forged"
