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
    # Linking the article to many machine models and fault codes costs no more queries.
    from equipment.models import FaultCode, MachineModel
    from knowledge.services import article_update

    codes = [
        FaultCode.objects.create(code=f"T{n}", title_en="x", title_zh="x", severity="low")
        for n in range(8)
    ]
    models = [
        MachineModel.objects.create(
            code=f"m{n}",
            name=f"M{n}",
            product_line="handheld",
            wavelength_nm=1080,
            max_power_w=1500,
        )
        for n in range(4)
    ]
    article_update(article=article, actor=None, fault_codes=codes, machine_models=models)
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
    import re

    # No inline script at all: every <script ...> tag loads a file of the site.
    tags = re.findall(r"<script\b[^>]*>", page, flags=re.I)
    assert tags and all(re.search(r'\bsrc="/static/', tag) for tag in tags), tags
    assert any("portal/portal.js" in tag for tag in tags)


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


def test_suggestions_follow_the_chosen_machine(portal, customer, make_unit, machine):
    from equipment.models import MachineModel
    from knowledge.services import article_create

    other_model = MachineModel.objects.create(
        code="rc-6000",
        name="RC-6000 cell",
        product_line="robotic",
        wavelength_nm=1070,
        max_power_w=6000,
    )
    unit = make_unit(customer.organisation)  # of `machine`
    mine = article_create(
        actor=None,
        title="Chiller alarm on handheld welders",
        body="Check the water level.",
        language="en",
        machine_models=[machine],
        is_published=True,
    )
    theirs = article_create(
        actor=None,
        title="Chiller alarm on robotic cells",
        body="Check the water level.",
        language="en",
        machine_models=[other_model],
        is_published=True,
    )
    url = reverse("portal:suggest")
    found = portal.get(url, {"q": "chiller alarm water", "unit": unit.pk}).json()["articles"]
    titles = [a["title"] for a in found]
    assert mine.title in titles and theirs.title not in titles
    # A unit of another organisation is ignored, not an error.
    stranger = make_unit(make_customer_org(customer))
    assert portal.get(url, {"q": "chiller alarm", "unit": stranger.pk}).status_code == 200


def make_customer_org(customer):
    from accounts.models import Organisation

    return Organisation.objects.create(
        name="Other works",
        name_en="Other works",
        tier="standard",
        region=customer.organisation.region,
    )


def test_help_articles_are_paged(portal):
    add_articles(25)
    first = portal.get(reverse("portal:kb") + "?q=porosity").content.decode()
    assert "Page 1 of 2" in first
    second = portal.get(reverse("portal:kb") + "?q=porosity&page=2").content.decode()
    assert "Page 2 of 2" in second and "Porosity checklist" in second
    assert portal.get(reverse("portal:kb") + "?page=abc").status_code == 200
