"""What a customer's chat message asks, read by the bot's rules (English and Chinese)."""

from __future__ import annotations

import pytest

from chat import intents
from chat.intents import FAULT_CODE, HOURS, SHIPMENT, TICKET


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Where is my parcel SF1234567890?", SHIPMENT),
        ("我的快递SF1234567890到哪了", SHIPMENT),
        ("Where are my parts?", SHIPMENT),
        ("我的配件到哪了？", SHIPMENT),
        ("Has the spare part for WD-2026-000012 shipped?", SHIPMENT),
        ("What is the status of WD-2026-000001?", TICKET),
        ("WD-2026-000001", TICKET),
        ("how is my ticket going", TICKET),
        ("我的工单处理得怎么样了", TICKET),
        ("When do you open?", HOURS),
        ("Are you open on Saturday?", HOURS),
        ("What are your opening hours?", HOURS),
        ("你们几点上班？", HOURS),
        ("客服什么时候上班", HOURS),
        ("E101 again", FAULT_CODE),
        ("机器报E101", FAULT_CODE),
        ("the screen shows e-201", FAULT_CODE),
        ("Hello?", None),
        ("好的，谢谢", None),
        ("Pores in the seam", None),
        # A serial number is not a tracking number outside a question about shipments.
        ("my machine HW2000-00001 stops", None),
    ],
)
def test_a_message_is_read_for_the_question_it_asks(text, intent):
    assert intents.read(text).intent == intent


def test_the_numbers_of_a_message_are_read_in_capitals_at_most_three():
    question = intents.read("parcels sbx-1001, SBX-1002, SBX-1003, SBX-1004 please")
    assert question.tracking_numbers == ("SBX-1001", "SBX-1002", "SBX-1003")
    assert intents.read("status of wd-2026-000007").references == ("WD-2026-000007",)
    # A ticket reference or a fault code is never taken for a tracking number.
    question = intents.read("快递 WD-2026-000007 E101")
    assert question.tracking_numbers == () and question.references == ("WD-2026-000007",)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我的配件", "zh-hans"),
        ("where are my parts", "en"),
        ("E101", None),
        ("WD-2026-000001", None),
    ],
)
def test_the_language_of_a_message_is_what_it_is_written_in(text, language):
    assert intents.read(text).language == language
