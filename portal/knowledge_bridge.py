"""What the portal asks of the knowledge base: search, suggestions, articles, feedback."""

from __future__ import annotations

from typing import Any

from knowledge import selectors, services
from knowledge.markdown import render_markdown

SUGGESTIONS = 5


def suggest(*, text: str, language: str, unit: Any = None) -> list[Any]:
    """Published articles matching what a customer types, best first (none for blank text);
    with a machine, articles for other models are left out and its own rank first."""
    if not text.strip():
        return []
    return list(
        selectors.article_suggest(text=text, language=language, unit=unit, limit=SUGGESTIONS)
    )


def search(*, query: str, language: str) -> Any:
    """A queryset to page through: best matches first in either language for a query, else
    the newest articles in the reader's language."""
    if query:
        return selectors.article_list(query=query, language=None)
    return selectors.article_list(language=language)


def article(*, slug: str, language: str) -> Any:
    found = selectors.article_get(slug=slug, language=language)
    found.html = render_markdown(found.body)
    return found


def for_fault_code(*, fault_code: Any, language: str) -> list[Any]:
    return list(
        selectors.articles_for_fault_code(fault_code=fault_code, language=language, limit=100)
    )


def feedback(*, article: Any, user: Any, helpful: bool) -> None:
    services.article_feedback(article=article, user=user, helpful=helpful)
