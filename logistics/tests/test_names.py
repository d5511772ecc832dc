"""Parts and carrier events in the reader's language (issue 20, point 7): an item's Chinese
name for Chinese readers, the normalised status translated, and the carrier's own words shown
exactly as the carrier sent them, labelled as the carrier's, never translated."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from chat import answers, intents
from core.errors import ApplicationError
from logistics import carriers, services
from logistics.admin import parse_items
from logistics.models import Shipment, TrackingStatus
from notifications.models import Outbox
from testsupport import sign_in

pytestmark = pytest.mark.django_db

LENS = {"description": "Protective lens D30", "quantity": 2, "name_zh": "保护镜片 D30"}
# A Chinese courier's own words: shown unchanged on an English page.
CARRIER_ZH = "【苏州市】快件派送不成功，收件人地址不详，正在联系收件人"


def _chinese(user):
    user.language = "zh-hans"
    user.save(update_fields=["language"])
    return user


def _english(user):
    user.language = "en"
    user.save(update_fields=["language"])
    return user


def _told(shipment, status: str, text: str) -> None:
    """The carrier reports an event in its own words."""
    event = carriers.Event(at=timezone.now() - dt.timedelta(minutes=5), status=status, text=text)
    services.tracking_apply(shipment=shipment, events=[event], source="push", now=timezone.now())


# ------------------------------------------------------------------------------ parts


def test_an_items_chinese_name_is_kept_trimmed_and_only_when_given(make_shipment, make_org):
    shipment = make_shipment(
        make_org(),
        items=[
            {**LENS, "name_zh": "  保护镜片 D30 "},
            {"description": "Nozzle 1.2 mm", "quantity": 1, "name_zh": ""},
        ],
    )
    assert shipment.items == [LENS, {"description": "Nozzle 1.2 mm", "quantity": 1}]


@pytest.mark.parametrize("name_zh", ["镜" * 201, 42, ["保护镜片"]])
def test_a_chinese_name_too_long_or_not_text_is_refused(make_shipment, make_org, name_zh):
    with pytest.raises(ApplicationError) as refused:
        make_shipment(make_org(), items=[{**LENS, "name_zh": name_zh}])
    assert "items" in refused.value.fields
    assert not Shipment.objects.exists()


def test_agents_give_the_chinese_name_after_a_bar():
    assert parse_items("2 x Protective lens D30 | 保护镜片 D30\nnozzle 1.2 mm\n3x wire |") == [
        LENS,
        {"quantity": 1, "description": "nozzle 1.2 mm"},
        {"quantity": 3, "description": "wire"},
    ]


def test_the_customer_reads_the_parts_in_their_language(client, open_ticket, make_shipment):
    ticket = open_ticket()
    customer = ticket.requester
    nozzle = {"description": "Nozzle 1.2 mm", "quantity": 1}  # no Chinese name given
    shipment = make_shipment(customer.organisation, items=[LENS, nozzle])
    url = reverse("portal:shipment", args=[shipment.pk])
    sign_in(client, _chinese(customer))
    page = client.get(url).content.decode()
    assert "2 × 保护镜片 D30" in page and "Protective lens D30" not in page
    assert "1 × Nozzle 1.2 mm" in page  # the English name when there is no Chinese one
    sign_in(client, _english(customer))
    page = client.get(url).content.decode()
    assert "2 × Protective lens D30" in page and "保护镜片" not in page


def test_the_agents_shipment_page_shows_both_names(client, agent, make_shipment, open_ticket):
    shipment = make_shipment(open_ticket().organisation, items=[LENS])
    sign_in(client, agent)
    page = client.get(reverse("admin:logistics_shipment_change", args=[shipment.pk]))
    assert "2 × Protective lens D30 (保护镜片 D30)" in page.content.decode()


# ---------------------------------------------------------------------- carrier's words


def test_an_english_page_shows_a_chinese_carriers_words_unchanged(
    client, open_ticket, make_shipment
):
    ticket = open_ticket()
    shipment = make_shipment(ticket.organisation, items=[LENS])
    _told(shipment, TrackingStatus.EXCEPTION, CARRIER_ZH)
    sign_in(client, _english(ticket.requester))
    page = client.get(reverse("portal:shipment", args=[shipment.pk])).content.decode()
    assert "Problem with delivery" in page
    assert f'Carrier\'s words: <span class="carrier-words">{CARRIER_ZH}</span>' in page


def test_a_chinese_page_translates_the_status_and_keeps_the_carriers_words(
    client, open_ticket, make_shipment
):
    ticket = open_ticket()
    shipment = make_shipment(ticket.organisation, hours_ago=20)
    services.track_one(shipment=shipment)  # the sandbox carrier speaks English
    sign_in(client, _chinese(ticket.requester))
    page = client.get(reverse("portal:shipment", args=[shipment.pk])).content.decode()
    with translation.override("zh-hans"):
        in_transit = str(TrackingStatus.IN_TRANSIT.label)
        label = translation.gettext("Carrier's words:")
    assert in_transit == "运输中" and label == "承运商原文："
    assert f"<strong>{in_transit}</strong>" in page
    assert f'{label} <span class="carrier-words">Departed the sorting centre</span>' in page
    assert "In transit" not in page


def test_the_bot_gives_the_status_translated_and_the_carriers_words_as_sent(
    open_ticket, make_shipment
):
    ticket = open_ticket()
    customer = ticket.requester
    shipment = make_shipment(customer.organisation, tickets=[ticket])
    _told(shipment, TrackingStatus.EXCEPTION, CARRIER_ZH)
    question = intents.Question(intent=intents.SHIPMENT, references=(ticket.reference,))
    with translation.override("en"):
        reply = answers.shipment_reply(user=customer, question=question)
    assert "Problem with delivery" in reply.body
    assert f"Carrier's words: {CARRIER_ZH}" in reply.body
    with translation.override("zh-hans"):
        reply = answers.shipment_reply(user=customer, question=question)
        status = shipment.get_status_display()
        label = translation.gettext("Carrier's words:")
    assert status == "派送异常" and status in reply.body
    assert f"{label} {CARRIER_ZH}" in reply.body


def test_the_delivery_problem_notice_labels_the_carriers_words(open_ticket, make_shipment):
    ticket = open_ticket()
    _english(ticket.requester)
    shipment = make_shipment(ticket.organisation, tickets=[ticket])
    _told(shipment, TrackingStatus.EXCEPTION, CARRIER_ZH)
    notice = Outbox.objects.get(
        key__startswith=f"shipment-exception:{shipment.pk}:", channel="email"
    )
    assert "Latest status: Problem with delivery" in notice.body
    assert f"Carrier's words: {CARRIER_ZH}" in notice.body
