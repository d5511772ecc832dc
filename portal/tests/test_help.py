"""The portal's help articles, suggestions and fault-code pages; language, time and headers."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from testsupport import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def articles(db):
    from equipment import demo as equipment_demo
    from knowledge import demo

    equipment_demo.seed()
    demo.seed()
    from knowledge.models import Article

    return Article.objects.all()


def count_queries(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured), response.content.decode()


def add_articles(n: int, language: str = "en") -> None:
    from knowledge.services import article_create

    for i in range(n):
        article_create(
            actor=None,
            title=f"Porosity checklist {i}",
            body="Pores in the seam: check the gas flow and the nozzle.",
            language=language,
            is_published=True,
        )


def test_help_index_searches_both_languages_and_keeps_its_budget(portal, articles):
    url = reverse("portal:kb") + "?q=porosity"
    few, page = count_queries(portal, url)
    assert "porosity" in page.lower()
    add_articles(15)
    many, _ = count_queries(portal, url)
    assert many == few
    _, chinese = count_queries(portal, reverse("portal:kb") + "?q=保护镜片")
    assert "保护镜片" in chinese
    _, nothing = count_queries(portal, reverse("portal:kb") + "?q=zzzqqq")
    assert "No articles match" in nothing


def test_article_page_renders_sanitised_markdown_and_takes_feedback(portal, customer):
    from knowledge.models import Article
    from knowledge.services import article_create

    article = article_create(
        actor=None,
        title="Lens check",
        body="## Clean the lens\n\n<script>alert(1)</script>[x](javascript:alert(1)) **now**",
        language="en",
        is_published=True,
    )
    url = reverse("portal:article", args=[article.language, article.slug])
    few, page = count_queries(portal, url)
    assert "<h2>Clean the lens</h2>" in page and "<strong>now</strong>" in page
    assert "<script>alert(1)</script>" not in page and "javascript:" not in page
    response = portal.post(url, {"helpful": "yes"})
    assert response.status_code == 302
    assert Article.objects.get(pk=article.pk).helpful_count == 1
    assert portal.post(url, {"helpful": "maybe"}).status_code == 302
    assert Article.objects.get(pk=article.pk).helpful_count == 1
    add_articles(10)
    assert count_queries(portal, url)[0] == few


def test_unpublished_and_unknown_articles_are_404(portal):
    from knowledge.services import article_create

    draft = article_create(actor=None, title="Draft notes", body="Not yet.", language="en")
    assert portal.get(reverse("portal:article", args=["en", draft.slug])).status_code == 404
    assert portal.get(reverse("portal:article", args=["en", "no-such"])).status_code == 404


def test_suggestions_answer_json_for_english_and_chinese(portal, articles):
    url = reverse("portal:suggest")
    with CaptureQueriesContext(connection) as few:
        english = portal.get(url, {"q": "pores in every seam, shielding gas"}).json()
    assert english["articles"] and all(
        a["url"].startswith("/portal/help/") for a in english["articles"]
    )
    add_articles(15)
    with CaptureQueriesContext(connection) as many:
        portal.get(url, {"q": "pores in every seam, shielding gas"})
    assert len(many) == len(few)
    portal.post(reverse("accounts:language"), {"language": "zh-hans", "next": "/"})
    chinese = portal.get(url, {"q": "保护镜片脏了，焊缝发黑"}).json()
    assert chinese["articles"]
    assert any("镜片" in a["title"] for a in chinese["articles"])
    assert portal.get(url, {"q": "   "}).json() == {"articles": []}


def test_fault_code_page_lists_its_articles(portal, articles):
    from equipment.models import FaultCode

    code = FaultCode.objects.filter(knowledge_articles__isnull=False).first()
    assert code is not None
    url = reverse("portal:fault_code", args=[code.code])
    few, page = count_queries(portal, url)
    assert code.code in page
    assert code.knowledge_articles.filter(language="en").first().title in page
    from knowledge.services import article_create

    for i in range(8):
        article_create(
            actor=None,
            title=f"More on {code.code} ({i})",
            body="Checks.",
            language="en",
            fault_codes=[code],
            is_published=True,
        )
    assert count_queries(portal, url)[0] == few
    assert portal.get(reverse("portal:fault_code", args=["NOPE-1"])).status_code == 404


def test_new_fault_report_form_keeps_its_budget(portal, customer, make_unit, articles):
    url = reverse("portal:ticket_new")
    make_unit(customer.organisation)
    few, _ = count_queries(portal, url)
    for _ in range(10):
        make_unit(customer.organisation)
    assert count_queries(portal, url)[0] == few


# ------------------------------------------------------------------------- language and time


def test_anonymous_pages_follow_the_browser_language(client):
    page = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert '<html lang="zh-hans">' in page.content.decode()
    assert "登录" in page.content.decode()
    page = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en-GB")
    assert '<html lang="en">' in page.content.decode()


def test_the_users_preference_beats_the_browser(client, make_customer):
    customer = make_customer(language="zh-hans")
    sign_in(client, customer)
    page = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    assert '<html lang="zh-hans">' in page and "报告故障" in page
    # Switching in the top bar changes the preference for good.
    client.post(reverse("accounts:language"), {"language": "en", "next": "/portal/"})
    customer.refresh_from_db()
    assert customer.language == "en"
    page = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert '<html lang="en">' in page and "Report a fault" in page


def test_times_are_shown_in_the_users_time_zone(client, make_customer, open_ticket):
    customer = make_customer(timezone="Europe/Berlin")
    ticket = open_ticket(customer)  # opened Monday 2 March 2026, 09:00 in Shanghai
    sign_in(client, customer)
    page = client.get(reverse("portal:ticket", args=[ticket.reference])).content.decode()
    assert "2026-03-02 02:00 CET" in page


# ------------------------------------------------------------------------- headers


def test_portal_pages_send_the_security_headers(portal):
    response = portal.get(reverse("portal:ticket_new"))
    csp = response["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    page = response.content.decode()
    assert "<script>" not in page  # no inline script: the only script is a file
    assert 'src="/static/portal/portal.js"' in page or "portal/portal.js" in page


def test_an_article_under_another_language_is_404(portal):
    from knowledge.services import article_create

    article = article_create(
        actor=None,
        title="Wire feed jams",
        body="Check the liner.",
        language="en",
        is_published=True,
    )
    assert portal.get(reverse("portal:article", args=["en", article.slug])).status_code == 200
    assert portal.get(reverse("portal:article", args=["xx", article.slug])).status_code == 404
    assert portal.get(reverse("portal:article", args=["zh-hans", article.slug])).status_code == 404


def test_a_new_customer_gets_the_browsers_language_at_first_sign_in(client, make_customer):
    from testsupport import PASSWORD

    customer = make_customer()
    assert customer.language == ""  # no preference yet
    response = client.post(
        reverse("accounts:login"),
        {"email": customer.email, "password": PASSWORD},
        HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9",
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.language == "zh-hans"  # kept as the preference from now on
    page = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    assert '<html lang="zh-hans">' in page
