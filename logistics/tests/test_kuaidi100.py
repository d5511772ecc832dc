"""The real Kuaidi100 client against a fake API on loopback, and the signed push webhook."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from logistics import carriers, services
from logistics.models import Shipment, TrackingStatus
from logistics.tests.conftest import kuaidi100_answer
from testsupport import free_port

pytestmark = pytest.mark.django_db

ROWS = [
    ("2026-12-03 18:40:00", "派件", "【苏州市】快递员正在派件", "江苏,苏州市"),
    ("2026-12-03 06:10:00", "在途", "【苏州转运中心】已到达", "江苏,苏州市"),
    ("2026-12-02 15:00:00", "揽收", "【深圳市】已揽收", "广东,深圳市"),
]


@pytest.fixture
def sf_shipment(kuaidi100, open_ticket, make_shipment):
    ticket = open_ticket()
    return make_shipment(
        ticket.organisation,
        carrier="kuaidi100",
        courier="shunfeng",
        number="SF1234567890",
        recipient_phone="13800138000",
        tickets=[ticket],
        tickets_wait=True,
    )


def test_the_client_signs_its_query_and_normalises_the_answer(kuaidi100, sf_shipment):
    kuaidi100.answers["SF1234567890"] = kuaidi100_answer("SF1234567890", "5", ROWS)
    assert services.track_one(shipment=sf_shipment)
    sent = kuaidi100.requests[-1]
    param = json.loads(sent["param"])
    assert param == {
        "com": "shunfeng",
        "num": "SF1234567890",
        "resultv2": "1",
        "phone": "13800138000",
    }
    assert "k-secret-test" not in json.dumps(sent)  # the key signs, it never travels
    sf_shipment.refresh_from_db()
    assert sf_shipment.status == TrackingStatus.OUT_FOR_DELIVERY
    assert sf_shipment.place == "江苏,苏州市"
    statuses = list(sf_shipment.events.order_by("at").values_list("status", flat=True))
    assert statuses == ["picked_up", "in_transit", "out_for_delivery"]
    first = sf_shipment.events.order_by("at").first()
    assert first.at.isoformat() == "2026-12-02T07:00:00+00:00"  # China time, stored in UTC


@pytest.mark.parametrize(
    "trouble",
    ["http_500", "refused", "unreachable", "garbage"],
)
def test_every_kind_of_carrier_trouble_is_a_carrier_error(
    kuaidi100, sf_shipment, settings, trouble
):
    if trouble == "http_500":
        kuaidi100.fail_with = 500
    elif trouble == "unreachable":
        settings.KUAIDI100_URL = f"http://127.0.0.1:{free_port()}/poll/query.do"
    elif trouble == "garbage":
        kuaidi100.answers["SF1234567890"] = {"status": "200", "state": "0", "data": "nope"}
    # "refused": the fake answers returnCode 500 for a number it does not know.
    with pytest.raises(carriers.CarrierError):
        carriers.Kuaidi100Carrier().track(sf_shipment)
    assert services.track_one(shipment=sf_shipment) is False
    sf_shipment.refresh_from_db()
    assert sf_shipment.check_failures == 1 and sf_shipment.status == "created"


def _push(client, number: str, state: str, rows, *, salt: str = "salt-test"):
    param = json.dumps(
        {"status": "polling", "message": "", "lastResult": kuaidi100_answer(number, state, rows)},
        ensure_ascii=False,
    )
    return client.post(
        reverse("kuaidi100_push"),
        {"param": param, "sign": carriers.kuaidi100_sign(param, salt)},
    )


def test_a_signed_push_delivers_and_resumes_the_waiting_ticket(client, sf_shipment):
    delivered = [("2026-12-04 10:05:00", "签收", "已签收，签收人：前台", "江苏,苏州市"), *ROWS]
    response = _push(client, "SF1234567890", "3", delivered)
    assert response.status_code == 200
    assert response.json() == {"result": True, "returnCode": "200", "message": "成功"}
    sf_shipment.refresh_from_db()
    assert sf_shipment.status == TrackingStatus.DELIVERED
    ticket = sf_shipment.tickets.get()
    assert ticket.status == "open"  # it was on hold awaiting the part
    again = _push(client, "SF1234567890", "3", delivered)
    assert again.status_code == 200
    assert sf_shipment.events.count() == 4  # the same push twice is kept once


def test_a_push_with_a_bad_signature_or_an_unknown_number_changes_nothing(client, sf_shipment):
    forged = _push(client, "SF1234567890", "3", ROWS, salt="guess")
    assert forged.status_code == 403 and forged.json()["result"] is False
    unknown = _push(client, "SF0000000000", "3", ROWS)
    assert unknown.status_code == 404
    bad = client.post(reverse("kuaidi100_push"), {"param": "{", "sign": "x"})
    assert bad.status_code == 403
    assert Shipment.objects.get(pk=sf_shipment.pk).events.count() == 0
