"""Reads of the knowledge base: published articles only, ranked search and suggestions.

Ranking is one SQL query on every database, so a search costs the same whatever the number
of articles. The typed text becomes terms (`search_terms`): Latin words (lightly stemmed) and
fault codes as they are, Chinese runs (no spaces) as overlapping two-character grams. Each
term found in the title scores TITLE_WEIGHT, in the body BODY_WEIGHT; a fault code the article
is linked to scores FAULT_CODE_WEIGHT; the whole query found in the title scores PHRASE_WEIGHT.
On PostgreSQL, pg_trgm adds word similarity of the Latin part of the query to the title and
body (so "porosty" still finds "porosity"), and admits candidates by the `%>` operator.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.http import Http404
from django.utils.translation import gettext as _

from equipment.models import FaultCode, MachineModel
from knowledge.models import Article, Language

TITLE_WEIGHT = 3
BODY_WEIGHT = 1
PHRASE_WEIGHT = 5
FAULT_CODE_WEIGHT = 6
MACHINE_MODEL_WEIGHT = 2
TRIGRAM_TITLE_WEIGHT = 3.0
TRIGRAM_BODY_WEIGHT = 1.0
MAX_TERMS = 24  # bounds the size of the SQL, not the number of queries
MAX_FUZZY_TERMS = 6
MAX_QUERY_CHARS = 500
MAX_LIMIT = 50

_LATIN = re.compile(r"[a-z0-9]+(?:[-_./][a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_FAULT_CODE = re.compile(r"^([a-z])-?(\d{2,4})$")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "do",
        "does",
        "did",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "too",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "why",
        "will",
        "with",
        "after",
        "before",
        "again",
        "also",
        "any",
        "all",
        "get",
        "got",
        "just",
        "me",
        "more",
        "most",
        "much",
        "some",
        "still",
        "keep",
        "keeps",
        "please",
        "help",
        "problem",
        "issue",
        "machine",
    ]
)
# Chinese function characters: a gram containing one of them matches too much to mean anything.
_CJK_FUNCTION_CHARS = frozenset("的了吗呢吧啊很都也就还是在有我你他她它们这那么个")
_CJK_STOP_GRAMS = frozenset(
    {"出现", "怎么", "什么", "为什", "一个", "没有", "问题", "时候", "现在", "可以", "如何", "请问"}
)


def _stem(word: str) -> str:
    """Strip a common English suffix so "jams" finds "jam" and "welding" finds "weld"."""
    for suffix in ("ing", "ed", "es"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    # "lens", "glass", "status", "axis" are not plurals.
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "ns")):
        return word[:-1]
    return word


def search_terms(text: str) -> list[str]:
    """Return the lower-case terms a text is matched by (at most MAX_TERMS, in order).

    Latin words and codes are kept whole (fault codes also as "e203" without the hyphen);
    Chinese runs become overlapping two-character grams ("焊缝气孔" -> 焊缝, 缝气, 气孔).
    """
    text = (text or "").lower()[:MAX_QUERY_CHARS]
    terms: list[str] = []
    for match in re.finditer(rf"{_LATIN.pattern}|{_CJK.pattern}", text):
        token = match.group(0)
        if _CJK.fullmatch(token):
            grams = [token[i : i + 2] for i in range(len(token) - 1)] or [token]
            terms.extend(
                g
                for g in grams
                if g not in _CJK_STOP_GRAMS and (len(g) == 1 or not (set(g) & _CJK_FUNCTION_CHARS))
            )
            continue
        code = _FAULT_CODE.match(token)
        if code:
            terms.append(code.group(1) + code.group(2))
            if "-" in token:
                terms.append(token)
            continue
        if token in _STOPWORDS or (len(token) < 2 and not token.isdigit()):
            continue
        terms.append(_stem(token))
    unique = list(dict.fromkeys(terms))
    return unique[:MAX_TERMS]


def fault_code_terms(terms: list[str]) -> list[str]:
    """Return the terms that look like fault codes, in the registry's spelling ("E203")."""
    return [t.upper() for t in terms if _FAULT_CODE.match(t) and "-" not in t]


class WordSimilarity(Func):
    """pg_trgm's word_similarity(needle, haystack)."""

    function = "WORD_SIMILARITY"
    output_field = FloatField()


class TrigramWordMatch(Func):
    """`haystack %> needle`: true when the needle is word-similar to part of the haystack.

    Written with the column on the left so the trigram GIN index can answer it.
    """

    template = "%(expressions)s"
    arg_joiner = " %%> "  # the driver reads "%%" as a literal "%" beside its parameters
    output_field = BooleanField()


def _published(language: str | None = None) -> QuerySet:
    qs = Article.objects.filter(is_published=True)
    if language:
        qs = qs.filter(language=_language(language))
    return qs


def _language(language: str) -> str:
    """Return the article language for a request language ("zh-Hans", "zh-cn", "en-us"...)."""
    return Language.ZH_HANS if language.lower().startswith("zh") else Language.EN


def _pk(value: Any, model: type) -> Any:
    return value.pk if isinstance(value, model) else value


def ranked(
    qs: QuerySet,
    *,
    query: str,
    machine_model: Any = None,
) -> QuerySet:
    """Filter a queryset to the articles that match a query and order them best first.

    `machine_model` (instance or pk) ranks the articles linked to it higher. Returns an empty
    queryset for a query without terms. Annotates `score`.
    """
    query = (query or "").strip()[:MAX_QUERY_CHARS]
    terms = search_terms(query)
    if not terms:
        return qs.none()
    matched = Q()
    score: Any = Value(0)
    for term in terms:
        title_hit = Q(title__icontains=term)
        body_hit = Q(body__icontains=term)
        matched |= title_hit | body_hit
        score += Case(When(title_hit, then=Value(TITLE_WEIGHT)), default=Value(0))
        score += Case(When(body_hit, then=Value(BODY_WEIGHT)), default=Value(0))
    if len(terms) > 1:
        score += Case(When(Q(title__icontains=query), then=Value(PHRASE_WEIGHT)), default=Value(0))
    codes = fault_code_terms(terms)
    if codes:
        linked = Exists(
            Article.fault_codes.through.objects.filter(
                article_id=OuterRef("pk"), faultcode__code__in=codes
            )
        )
        matched |= Q(linked)
        score += Case(When(linked, then=Value(FAULT_CODE_WEIGHT)), default=Value(0))
    if machine_model is not None:
        for_model = Exists(
            Article.machine_models.through.objects.filter(
                article_id=OuterRef("pk"), machinemodel_id=_pk(machine_model, MachineModel)
            )
        )
        score += Case(When(for_model, then=Value(MACHINE_MODEL_WEIGHT)), default=Value(0))
    score = Cast(score, FloatField())
    if connection.vendor == "postgresql":
        latin = " ".join(t for t in terms if t.isascii())
        if latin:
            score += WordSimilarity(Value(latin), F("title")) * Value(TRIGRAM_TITLE_WEIGHT)
            score += WordSimilarity(Value(latin), F("body")) * Value(TRIGRAM_BODY_WEIGHT)
            for term in [t for t in terms if t.isascii() and len(t) >= 4][:MAX_FUZZY_TERMS]:
                matched |= Q(TrigramWordMatch(F("title"), Value(term)))
                matched |= Q(TrigramWordMatch(F("body"), Value(term)))
    return qs.filter(matched).annotate(score=score).order_by("-score", "-updated_at", "-pk")


def _bounded(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


def article_search(
    *,
    query: str,
    language: str | None = None,
    machine_model: Any = None,
    fault_code: Any = None,
    limit: int = 10,
) -> list[Article]:
    """Return the published articles that match a query, best first (one query).

    `machine_model` and `fault_code` (instances or primary keys) keep only the articles
    linked to them. An empty or blank query returns nothing.
    """
    qs = _published(language)
    if machine_model is not None:
        qs = qs.filter(machine_models=_pk(machine_model, MachineModel))
    if fault_code is not None:
        qs = qs.filter(fault_codes=_pk(fault_code, FaultCode))
    return list(ranked(qs, query=query)[: _bounded(limit)])


def article_list(
    *,
    language: str | None = None,
    query: str = "",
    machine_model: Any = None,
    fault_code: Any = None,
) -> QuerySet:
    """Return a queryset of published articles for a paginated list.

    Without a query: newest first. With one: the matches, best first (annotated `score`).
    """
    qs = _published(language)
    if machine_model is not None:
        qs = qs.filter(machine_models=_pk(machine_model, MachineModel))
    if fault_code is not None:
        qs = qs.filter(fault_codes=_pk(fault_code, FaultCode))
    if query and query.strip():
        return ranked(qs, query=query)
    return qs.order_by("-updated_at", "-pk")


def article_get(*, slug: str, language: str) -> Article:
    """Return one published article with its models and fault codes; 404 otherwise."""
    article = (
        _published(language)
        .filter(slug=slug)
        .prefetch_related("machine_models", "fault_codes")
        .first()
    )
    if article is None:
        raise Http404(_("No such article."))
    return article


def articles_for_fault_code(*, fault_code: Any, language: str, limit: int = 5) -> list[Article]:
    """Return the published articles linked to a fault code (instance, pk or code).

    Articles that name the code in their title come first, then the most helpful ones.
    """
    qs = _published(language)
    if isinstance(fault_code, str):
        qs = qs.filter(fault_codes__code__iexact=fault_code.strip())
    else:
        qs = qs.filter(fault_codes=_pk(fault_code, FaultCode))
    # The annotation reuses the join of the filter above: the code is the requested one.
    qs = qs.annotate(
        names_code=Case(
            When(title__icontains=F("fault_codes__code"), then=Value(1)), default=Value(0)
        )
    )
    qs = qs.order_by("-names_code", "-helpful_count", "-updated_at", "-pk")
    return list(qs[: _bounded(limit)])


def article_suggest(*, text: str, language: str, unit: Any = None, limit: int = 5) -> list[Article]:
    """Return articles that may solve the fault a customer is typing (one query).

    Works for English and Chinese text. With a `unit`, articles written for other machine
    models are left out and those for the unit's model rank higher; articles linked to no
    model apply to every machine. A fault code in the text ("E203", "e-203") ranks the
    articles linked to it first.
    """
    qs = _published(language)
    model_id = getattr(unit, "machine_model_id", None)
    if model_id is not None:
        through = Article.machine_models.through.objects
        qs = qs.filter(
            ~Exists(through.filter(article_id=OuterRef("pk")))
            | Exists(through.filter(article_id=OuterRef("pk"), machinemodel_id=model_id))
        )
    return list(ranked(qs, query=text, machine_model=model_id)[: _bounded(limit)])
