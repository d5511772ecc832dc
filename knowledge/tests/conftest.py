"""Fixtures for knowledge tests: the demo machine models and fault codes, articles on demand."""

from __future__ import annotations

import pytest


@pytest.fixture
def catalogue(db):
    """Return the demo machine models and fault codes, by code."""
    from equipment import demo
    from equipment.models import FaultCode, MachineModel

    demo.seed()  # without demo organisations it creates models and fault codes only
    return (
        {m.code: m for m in MachineModel.objects.all()},
        {f.code: f for f in FaultCode.objects.all()},
    )


@pytest.fixture
def demo_articles(catalogue):
    """Seed the twelve demo articles; return them by (language, title)."""
    from knowledge import demo
    from knowledge.models import Article

    assert demo.seed() == 12
    return {(a.language, a.title): a for a in Article.objects.all()}


@pytest.fixture
def make_article(db):
    from knowledge import services

    counter = {"n": 0}

    def make(**fields):
        counter["n"] += 1
        fields.setdefault("title", f"Filler article number {counter['n']}")
        fields.setdefault("body", "Routine maintenance notes for the workshop.")
        fields.setdefault("language", "en")
        fields.setdefault("is_published", True)
        return services.article_create(actor=None, **fields)

    return make
