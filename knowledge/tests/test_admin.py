"""The agents' article screens: list, add and change through the services, safe preview."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from knowledge.models import Article

CHANGELIST = "/admin/knowledge/article/"
ADD = "/admin/knowledge/article/add/"


def change_page(article: Article) -> str:
    return f"/admin/knowledge/article/{article.pk}/change/"


def form_data(**fields) -> dict:
    data = {
        "title": "Chiller flow alarm after a water change",
        "language": "en",
        "body": "## Bleed the air\n\n1. Run the pump for five minutes.",
        "machine_models": [],
        "fault_codes": [],
        "_save": "Save",
    }
    data.update(fields)
    return data


@pytest.fixture
def agent(staff_client):
    return staff_client(roles=("agent",), full_name="Lin Agent")


def test_agent_adds_an_article_through_the_service(agent, catalogue):
    client, user = agent
    models, codes = catalogue
    assert client.get(ADD).status_code == 200
    response = client.post(
        ADD,
        form_data(
            is_published="on",
            machine_models=[models["rc-6000"].pk],
            fault_codes=[codes["E102"].pk],
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get()
    assert article.slug == "chiller-flow-alarm-after-a-water-change"
    assert article.author == user and article.is_published
    assert list(article.machine_models.all()) == [models["rc-6000"]]
    assert list(article.fault_codes.all()) == [codes["E102"]]
    event = AuditEvent.objects.get(action="knowledge.article_created")
    assert event.actor_ref == f"user:{user.pk}" and event.target_id == str(article.pk)


def test_agent_changes_an_article_and_only_the_change_is_audited(agent, catalogue, make_article):
    client, user = agent
    _models, codes = catalogue
    article = make_article(title="Gas coverage", fault_codes=[codes["E410"]])
    response = client.post(
        change_page(article),
        form_data(
            title="Gas coverage",
            body=article.body,
            is_published="on",
            fault_codes=[codes["E410"].pk, codes["W020"].pk],
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    article.refresh_from_db()
    assert set(article.fault_codes.values_list("code", flat=True)) == {"E410", "W020"}
    event = AuditEvent.objects.get(action="knowledge.article_updated")
    assert set(event.changed_fields) == {"fault_codes"}
    assert event.actor_ref == f"user:{user.pk}"


def test_invalid_input_is_shown_on_the_form(agent, db):
    client, _user = agent
    response = client.post(ADD, form_data(title="ab"))
    assert response.status_code == 200
    assert "Enter at least 3 characters." in response.content.decode()
    assert not Article.objects.exists()


def test_change_page_previews_the_sanitised_body(agent, make_article):
    client, _user = agent
    article = make_article(
        body="## Steps\n\n- **Stop** the laser\n\n<script>alert('x')</script>"
        "\n\n[bad](javascript:alert(2))"
    )
    content = client.get(change_page(article)).content.decode()
    preview = re.search(r'<div class="knowledge-preview">(.*?)</div>', content, re.S)
    assert preview, "no preview on the change page"
    assert "<h2>Steps</h2>" in preview.group(1)
    assert "<strong>Stop</strong>" in preview.group(1)
    assert "<script" not in preview.group(1) and "javascript:" not in preview.group(1)


def test_changelist_lists_filters_and_costs_the_same_for_1_and_20(agent, make_article):
    client, _user = agent
    make_article(title="Only article", language="zh-hans")

    def load():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(CHANGELIST, {"language": "zh-hans"})
        assert response.status_code == 200
        return response, len(ctx.captured_queries)

    load()  # the first request of a session also loads its user, device and permissions
    response, small = load()
    assert "Only article" in response.content.decode()
    for i in range(19):
        make_article(title=f"Article {i}", language="zh-hans" if i % 2 else "en")
    response, large = load()
    assert small == large
    assert len(response.context["cl"].result_list) == 10  # 1 + 9 Chinese ones


def test_no_delete_and_no_access_without_the_permission(agent, staff_client, make_article):
    client, _user = agent
    article = make_article()
    assert client.get(f"/admin/knowledge/article/{article.pk}/delete/").status_code == 403
    client.logout()
    compliance, _officer = staff_client(roles=("compliance_officer",))
    assert compliance.get(CHANGELIST).status_code == 403
    assert compliance.get(change_page(article)).status_code == 403
