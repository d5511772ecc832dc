"""Fixtures for logistics: the tickets app's ticket fixtures, shipments, a fake Kuaidi100."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from logistics import carriers
from tickets.tests import conftest as ticket_fixtures

machine = ticket_fixtures.machine
make_unit = ticket_fixtures.make_unit
sla_setup = ticket_fixtures.sla_setup
queue_setup = ticket_fixtures.queue_setup
open_ticket = ticket_fixtures.open_ticket


@pytest.fixture
def agent(queue_setup):
    return queue_setup[2][0]


@pytest.fixture
def make_shipment(agent):
    from logistics import services

    counter = {"n": 0}

    def make(organisation, *, hours_ago: float = 0, number: str | None = None, **fields):
        counter["n"] += 1
        fields.setdefault("kind", "spare_part")
        fields.setdefault("carrier", "sandbox")
        fields.setdefault("delivery_address", "苏州工业园区星湖街 328 号")
        fields.setdefault("items", [{"description": "Protective lens D30", "quantity": 2}])
        return services.shipment_create(
            actor=agent,
            organisation=organisation,
            tracking_number=number or f"SBX-{counter['n']:06d}",
            sent_at=timezone.now() - dt.timedelta(hours=hours_ago),
            **fields,
        )

    return make


class FakeKuaidi100:
    """A loopback Kuaidi100 query API: checks the signature, answers what the test set."""

    def __init__(self, customer: str, key: str):
        self.customer, self.key = customer, key
        self.answers: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.fail_with: int | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.requests.append(form)
                if fake.fail_with:
                    self.send_response(fake.fail_with)
                    self.end_headers()
                    return
                expected = carriers.kuaidi100_sign(form.get("param", ""), fake.key, fake.customer)
                if form.get("customer") != fake.customer or form.get("sign") != expected:
                    body = {"result": False, "returnCode": "601", "message": "bad sign"}
                else:
                    number = json.loads(form["param"])["num"]
                    body = fake.answers.get(
                        number, {"result": False, "returnCode": "500", "message": "no data"}
                    )
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/poll/query.do"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def kuaidi100_answer(number: str, state: str, rows: list[tuple[str, str, str, str]]) -> dict:
    """A query answer as Kuaidi100 gives it: rows (time, status word, text, area), newest first."""
    return {
        "message": "ok",
        "nu": number,
        "ischeck": "1" if state == "3" else "0",
        "com": "shunfeng",
        "status": "200",
        "state": state,
        "data": [
            {"time": t, "ftime": t, "status": word, "context": text, "areaName": area}
            for t, word, text, area in rows
        ],
    }


@pytest.fixture
def kuaidi100(settings):
    fake = FakeKuaidi100(customer="WELDDESKTEST", key="k-secret-test")
    settings.KUAIDI100_URL = fake.url
    settings.KUAIDI100_CUSTOMER = fake.customer
    settings.KUAIDI100_KEY = fake.key
    settings.KUAIDI100_SALT = "salt-test"
    settings.KUAIDI100_TIMEOUT_SECONDS = 2
    yield fake
    fake.close()
