"""Data agents read carries both languages and is shown in the agent's (issue 18, point 6):
runbook steps, canned response titles, queue names, components; English when no Chinese."""

from __future__ import annotations

import pytest
from django.utils import translation

from status import services as status_services
from status.models import ComponentStatus, PlaybookStep, Severity
from status.tests.conftest import components  # noqa: F401 (a fixture)
from tickets.admin_forms import ReplyForm
from tickets.models import CannedResponse, Queue

pytestmark = pytest.mark.django_db


def test_every_reference_playbook_step_and_grade_has_its_chinese():
    assert PlaybookStep.objects.count() == 16
    assert not PlaybookStep.objects.filter(text_zh="").exists()
    assert not Severity.objects.filter(description_zh="").exists()
    step = PlaybookStep.objects.get(text="Tell the duty supervisor.")
    with translation.override("zh-hans"):
        assert str(step) == "通知值班主管。"
    with translation.override("en"):
        assert str(step) == "Tell the duty supervisor."


def test_an_incident_copies_both_languages_of_its_playbook(components, make_staff):  # noqa: F811
    incident = status_services.incident_open(
        actor=make_staff(roles=("supervisor",)),
        severity=Severity.objects.get(key="sev3"),
        components={components["east"]: ComponentStatus.DEGRADED},
        title_en="Slow hotline",
        title_zh="热线缓慢",
        body_en="Long queues.",
        body_zh="排队时间长。",
    )
    task = incident.tasks.first()
    assert (task.text, task.text_zh) == ("Tell the duty supervisor.", "通知值班主管。")
    with translation.override("zh-hans"):
        assert task.text_localized == "通知值班主管。"
        assert str(components["east"]) == "华东热线"
    with translation.override("en"):
        assert str(components["east"]) == "Hotline East"


def test_canned_titles_and_queue_names_follow_the_agent_language_and_fall_back_to_english():
    both = CannedResponse.objects.create(title="Ask for photos", title_zh="请提供照片", body_en="x")
    english = CannedResponse.objects.create(title="Thanks", body_en="Thanks")
    with translation.override("zh-hans"):
        form = ReplyForm(canned=[both, english])
        assert [label for _v, label in form.fields["canned"].choices][1:] == [
            "请提供照片",
            "Thanks",
        ]
        queue = Queue(name="General", name_zh="综合")
        assert (str(queue), str(Queue(name="Robotic"))) == ("综合", "Robotic")
    with translation.override("en"):
        assert str(both) == "Ask for photos" and str(Queue(name="General", name_zh="综合")) == (
            "General"
        )
