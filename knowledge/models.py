"""Knowledge-base articles (troubleshooting, in English or Simplified Chinese) and votes.

The counters `helpful_count` and `not_helpful_count` are kept by `services.article_feedback`
with F() expressions; nothing else writes them. On PostgreSQL, migration 0002 adds the
pg_trgm extension and trigram GIN indexes that `selectors` uses for fuzzy matching.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from equipment.models import FaultCode, MachineModel


class Language(models.TextChoices):
    # The codes are settings.LANGUAGES codes.
    EN = "en", _("English")
    ZH_HANS = "zh-hans", _("Simplified Chinese")


class Article(models.Model):
    """A troubleshooting article a customer can read in the portal or the chat bot quotes."""

    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=220, allow_unicode=True)
    body = models.TextField(_("body (Markdown)"))
    language = models.CharField(_("language"), max_length=10, choices=Language.choices)
    machine_models = models.ManyToManyField(
        MachineModel,
        verbose_name=_("machine models"),
        blank=True,
        related_name="knowledge_articles",
    )
    fault_codes = models.ManyToManyField(
        FaultCode, verbose_name=_("fault codes"), blank=True, related_name="knowledge_articles"
    )
    is_published = models.BooleanField(_("published"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="knowledge_articles",
    )
    helpful_count = models.PositiveIntegerField(_("helpful votes"), default=0, editable=False)
    not_helpful_count = models.PositiveIntegerField(
        _("not helpful votes"), default=0, editable=False
    )

    class Meta:
        ordering = ["-updated_at", "-pk"]
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        constraints = [
            models.UniqueConstraint(
                fields=["language", "slug"], name="knowledge_article_slug_per_language"
            )
        ]
        indexes = [
            models.Index(
                fields=["language", "is_published", "-updated_at"],
                name="knowledge_article_lang_pub",
            )
        ]

    def __str__(self) -> str:
        return self.title


class ArticleFeedback(models.Model):
    """One signed-in user's vote on an article; a second vote replaces the first."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="feedback"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="knowledge_feedback",
    )
    helpful = models.BooleanField(_("helpful"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("article feedback")
        verbose_name_plural = _("article feedback")
        constraints = [
            models.UniqueConstraint(
                fields=["article", "user"], name="knowledge_feedback_one_vote_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.article_id}: {'+' if self.helpful else '-'}"
