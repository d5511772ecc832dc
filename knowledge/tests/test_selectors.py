"""Search, suggestions and lists: right article first, English and Chinese, bounded queries.

These run on SQLite by default and on PostgreSQL with DATABASE_URL (pg_trgm adds fuzzy
matching there); every assertion here must hold on both.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from knowledge import selectors, services

POROSITY_EN = "Spatter and porosity in weld seams: causes and fixes"
POROSITY_ZH = "焊缝飞溅和气孔的原因与处理"
LENS_EN = "Protective lens contamination (E203): clean or replace the lens"
LENS_ZH = "保护镜片污染（E203）：清洁或更换保护镜片"
WIRE_EN = "Wire feed jams (E305) on handheld welders and robot cells"
WIRE_ZH = "送丝卡丝（E305）的排查方法"
CHILLER_EN = "Chiller alarms: water flow (E102) and laser over-temperature (E101)"
CHILLER_ZH = "冷水机报警：流量报警（E102）与激光器温度过高（E101）"
POWER_ZH = "激光功率弱、不稳定或熔深不足"
GAS_EN = "Shielding gas flow and gas coverage problems (E410)"


def titles(articles) -> list[str]:
    return [a.title for a in articles]


# ------------------------------------------------------------------- terms


def test_search_terms_split_chinese_into_bigrams_and_keep_codes():
    assert selectors.search_terms("焊缝气孔") == ["焊缝", "缝气", "气孔"]
    assert selectors.search_terms("E-203 报警") == ["e203", "e-203", "报警"]
    assert selectors.search_terms("The wire feeder jams after welding") == [
        "wire",
        "feeder",
        "jam",
        "weld",
    ]
    # Function characters and filler grams are dropped: they would match every article.
    assert "的" not in "".join(selectors.search_terms("镜片的问题"))
    assert selectors.search_terms("   ") == []


# ------------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("query", "language", "expected"),
    [
        ("porosity in the weld seam", "en", POROSITY_EN),
        ("wire feeder jams", "en", WIRE_EN),
        ("chiller flow alarm", "en", CHILLER_EN),
        ("protective lens dirty", "en", LENS_EN),
        ("shielding gas coverage", "en", GAS_EN),
        ("焊缝气孔", "zh-hans", POROSITY_ZH),
        ("保护镜片污染", "zh-hans", LENS_ZH),
        ("送丝机卡丝", "zh-hans", WIRE_ZH),
        ("冷水机流量报警", "zh-hans", CHILLER_ZH),
        ("熔深不够，功率不稳定", "zh-hans", POWER_ZH),
    ],
)
def test_search_finds_the_right_article_first(demo_articles, query, language, expected):
    found = selectors.article_search(query=query, language=language)
    assert found, query
    assert found[0].title == expected
    assert {a.language for a in found} == {language}


def test_search_by_fault_code_text_ranks_the_linked_article_first(demo_articles):
    assert selectors.article_search(query="E305", language="en")[0].title == WIRE_EN
    assert selectors.article_search(query="e-305", language="zh-hans")[0].title == WIRE_ZH


def test_search_without_language_spans_both(demo_articles):
    found = titles(selectors.article_search(query="E203 lens 镜片", limit=20))
    assert LENS_EN in found and LENS_ZH in found


def test_fault_code_filter_keeps_only_linked_articles(demo_articles, catalogue):
    _models, codes = catalogue
    found = selectors.article_search(
        query="check clean", language="en", fault_code=codes["E203"], limit=20
    )
    assert found
    assert all(codes["E203"] in a.fault_codes.all() for a in found), (
        "an article not linked to E203 was returned"
    )
    assert WIRE_EN not in titles(found)
    # By primary key too.
    assert titles(
        selectors.article_search(query="lens", language="en", fault_code=codes["E203"].pk)
    )[0] in {LENS_EN}


def test_machine_model_filter(catalogue, make_article):
    models, _codes = catalogue
    make_article(title="Robot cell seam tracking drift", machine_models=[models["rc-6000"]])
    make_article(title="Handheld seam tracking tips", machine_models=[models["hw-1500"]])
    found = selectors.article_search(query="seam tracking", machine_model=models["rc-6000"])
    assert titles(found) == ["Robot cell seam tracking drift"]


def test_unpublished_articles_never_appear(catalogue, make_article):
    draft = make_article(title="Porosity draft", body="porosity porosity", is_published=False)
    published = make_article(title="Porosity guide", body="porosity")
    assert titles(selectors.article_search(query="porosity")) == ["Porosity guide"]
    assert titles(selectors.article_suggest(text="porosity", language="en")) == ["Porosity guide"]
    assert list(selectors.article_list(query="porosity")) == [published]
    assert draft not in selectors.article_list()
    with pytest.raises(Http404):
        selectors.article_get(slug=draft.slug, language="en")


def test_empty_or_blank_query_returns_nothing(demo_articles):
    assert selectors.article_search(query="") == []
    assert selectors.article_search(query="   \n ") == []
    assert selectors.article_suggest(text=" ", language="en") == []


def test_no_match_returns_nothing(demo_articles):
    assert selectors.article_search(query="xylophone quartet", language="en") == []


def test_limit_is_respected(demo_articles):
    assert len(selectors.article_search(query="laser check", language="en", limit=2)) == 2


# ------------------------------------------------------------------- suggestions


def test_suggest_english_and_chinese_descriptions(demo_articles):
    en = selectors.article_suggest(
        text="Since this morning the welds have lots of small holes and spatter", language="en"
    )
    assert en[0].title == POROSITY_EN
    zh = selectors.article_suggest(text="焊接时焊缝里出现很多气孔，怎么办？", language="zh-hans")
    assert zh[0].title == POROSITY_ZH
    zh = selectors.article_suggest(text="屏幕提示保护镜片污染", language="zh-Hans")
    assert zh[0].title == LENS_ZH


def test_suggest_ranks_articles_linked_to_a_typed_fault_code_first(demo_articles):
    found = selectors.article_suggest(text="machine shows E102 and stops", language="en")
    assert found[0].title == CHILLER_EN


def test_suggest_for_a_unit_leaves_out_other_models(catalogue, make_article):
    models, _codes = catalogue

    class Unit:  # the selector only reads the unit's machine model id
        machine_model_id = models["hw-1500"].pk

    make_article(title="Robot cell gas nozzle alignment", machine_models=[models["rc-6000"]])
    make_article(title="Handheld gas nozzle cleaning", machine_models=[models["hw-1500"]])
    make_article(title="Gas nozzle basics for every machine")
    found = titles(selectors.article_suggest(text="gas nozzle", language="en", unit=Unit()))
    assert found[0] == "Handheld gas nozzle cleaning"
    assert set(found) == {"Handheld gas nozzle cleaning", "Gas nozzle basics for every machine"}


# ------------------------------------------------------------------- lists and detail


def test_article_list_without_query_is_newest_first(catalogue, make_article):
    first = make_article(title="Older article")
    second = make_article(title="Newer article")
    services.article_update(article=first, actor=None, body="Edited later, so newest now.")
    assert list(selectors.article_list(language="en")) == [first, second]


def test_article_get_by_slug_and_language(demo_articles):
    lens = demo_articles[("zh-hans", LENS_ZH)]
    got = selectors.article_get(slug=lens.slug, language="zh-hans")
    assert got == lens
    with pytest.raises(Http404):
        selectors.article_get(slug=lens.slug, language="en")
    with pytest.raises(Http404):
        selectors.article_get(slug="no-such-article", language="en")


def test_articles_for_fault_code(demo_articles, catalogue):
    _models, codes = catalogue
    assert titles(selectors.articles_for_fault_code(fault_code=codes["E305"], language="en")) == [
        WIRE_EN
    ]
    by_code = titles(selectors.articles_for_fault_code(fault_code="e203", language="zh-hans"))
    assert by_code[0] == LENS_ZH and set(by_code) == {LENS_ZH, POWER_ZH}
    assert selectors.articles_for_fault_code(fault_code="I001", language="en") == []


# ------------------------------------------------------------------- query budgets


def _queries(func) -> int:
    with CaptureQueriesContext(connection) as ctx:
        func()
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("call", "budget"),
    [
        (lambda: selectors.article_search(query="porosity seam", language="en"), 1),
        (lambda: selectors.article_search(query="焊缝气孔", language="zh-hans"), 1),
        (lambda: selectors.article_suggest(text="E203 镜片 lens", language="en"), 1),
        (lambda: list(selectors.article_list(language="en", query="seam")[:10]), 1),
        (lambda: selectors.articles_for_fault_code(fault_code="W020", language="en"), 1),
    ],
)
def test_search_costs_the_same_with_1_and_20_articles(catalogue, make_article, call, budget):
    _models, codes = catalogue

    def add(n: int, start: int) -> None:
        for i in range(start, start + n):
            language = "zh-hans" if i % 2 else "en"
            make_article(
                title=f"Seam porosity case {i}" if language == "en" else f"焊缝气孔案例 {i}",
                body="porosity seam lens E203 焊缝 气孔 镜片",
                language=language,
                fault_codes=[codes["W020"], codes["E203"]],
            )

    add(1, 0)
    small = _queries(call)
    add(19, 1)
    large = _queries(call)
    assert small == large == budget


# ------------------------------------------------------------------- PostgreSQL: pg_trgm


@pytest.mark.postgres
def test_postgresql_has_the_trigram_extension_and_indexes(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone() is not None
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'knowledge_article'"
            " AND indexdef LIKE '%%gin_trgm_ops%%'"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert names == {
        "knowledge_article_title_trgm",
        "knowledge_article_body_trgm",
        "knowledge_article_title_up_trgm",
        "knowledge_article_body_up_trgm",
    }


@pytest.mark.postgres
def test_postgresql_finds_misspelt_words_by_trigram_similarity(demo_articles):
    # Neither "porosty" nor "chillr" is a substring of any article: only pg_trgm finds them.
    assert selectors.article_search(query="porosty", language="en")[0].title == POROSITY_EN
    assert selectors.article_search(query="chillr alarm", language="en")[0].title == CHILLER_EN


def test_sqlite_falls_back_to_exact_terms(demo_articles):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL matches misspellings too")
    assert selectors.article_search(query="porosty", language="en") == []
