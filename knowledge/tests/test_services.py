"""Article writes (validated, audited, unique slugs) and one vote per user with F() counts."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from core.errors import ApplicationError, Forbidden, NotFound
from knowledge import demo, services
from knowledge.models import Article, ArticleFeedback


def audited(action: str, article: Article) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_id=str(article.pk)))


# ------------------------------------------------------------------- create


def test_create_article_with_links_author_and_audit(catalogue, make_staff):
    models, codes = catalogue
    agent = make_staff()
    article = services.article_create(
        actor=agent,
        title="  Cleaning   the protective lens ",
        body="## Steps\n\n1. Stop the laser.",
        language="en",
        machine_models=[models["hw-2000"]],
        fault_codes=[codes["E203"].pk],
    )
    assert article.title == "Cleaning the protective lens"
    assert article.slug == "cleaning-the-protective-lens"
    assert article.author == agent
    assert article.is_published is False
    assert list(article.machine_models.all()) == [models["hw-2000"]]
    assert list(article.fault_codes.all()) == [codes["E203"]]
    (event,) = audited("knowledge.article_created", article)
    assert event.actor_ref == f"user:{agent.pk}"
    assert event.data["values"]["fault_codes"] == [codes["E203"].pk]


def test_slugs_are_unique_per_language_and_keep_chinese(db):
    first = services.article_create(actor=None, title="Lens care", body="x", language="en")
    second = services.article_create(actor=None, title="Lens care", body="y", language="en")
    other = services.article_create(actor=None, title="Lens care", body="z", language="zh-hans")
    assert (first.slug, second.slug, other.slug) == ("lens-care", "lens-care-2", "lens-care")
    chinese = services.article_create(
        actor=None, title="保护镜片污染", body="正文", language="zh-hans"
    )
    assert chinese.slug == "保护镜片污染"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": "ab"}, "title", "at least 3"),
        ({"title": "x" * 201}, "title", "at most 200"),
        ({"body": "   "}, "body", "required"),
        ({"language": "de"}, "language", "Choose one of"),
        ({"fault_codes": [999_999]}, "fault_codes", "valid"),
        ({"machine_models": ["hw-1500"]}, "machine_models", "valid"),
    ],
)
def test_create_refuses_invalid_input(db, fields, field, message):
    values = {"title": "Valid title", "body": "Body", "language": "en", **fields}
    with pytest.raises(ApplicationError) as exc:
        services.article_create(actor=None, **values)
    assert message in exc.value.fields[field][0]
    assert not Article.objects.exists()


# ------------------------------------------------------------------- update


def test_update_saves_and_audits_only_real_changes(catalogue, make_article):
    models, codes = catalogue
    article = make_article(title="Gas flow basics", is_published=False)
    same = services.article_update(article=article, actor=None, title="Gas flow basics")
    assert same.updated_at == article.updated_at
    assert audited("knowledge.article_updated", article) == []

    updated = services.article_update(
        article=article,
        actor=None,
        title="Gas flow basics (E410)",
        body="New body",
        is_published=True,
        fault_codes=[codes["E410"]],
    )
    assert updated.title == "Gas flow basics (E410)"
    assert updated.slug == article.slug  # links to the article keep working
    assert updated.is_published and updated.body == "New body"
    assert list(updated.fault_codes.all()) == [codes["E410"]]
    (event,) = audited("knowledge.article_updated", article)
    assert set(event.changed_fields) == {"title", "body", "is_published", "fault_codes"}
    assert event.data["values"]["body"] == {"chars": len("New body")}

    services.article_update(article=article, actor=None, machine_models=[models["rc-6000"]])
    assert len(audited("knowledge.article_updated", article)) == 2


def test_update_language_makes_the_slug_unique_there(db):
    services.article_create(actor=None, title="Lens", body="x", language="zh-hans")
    article = services.article_create(actor=None, title="Lens", body="x", language="en")
    moved = services.article_update(article=article, actor=None, language="zh-hans")
    assert (moved.language, moved.slug) == ("zh-hans", "lens-2")


def test_update_refuses_unknown_and_invalid_fields(make_article):
    article = make_article()
    with pytest.raises(ApplicationError, match="Unknown fields: helpful_count"):
        services.article_update(article=article, actor=None, helpful_count=100)
    with pytest.raises(ApplicationError) as exc:
        services.article_update(article=article, actor=None, title=" ")
    assert "title" in exc.value.fields


# ------------------------------------------------------------------- feedback


def test_one_vote_per_user_and_a_changed_vote_moves_the_counts(make_article, make_customer):
    article = make_article()
    alice, bob = make_customer(), make_customer()

    vote = services.article_feedback(article=article, user=alice, helpful=True)
    assert vote.article.helpful_count == 1 and vote.article.not_helpful_count == 0
    services.article_feedback(article=article, user=alice, helpful=True)  # same vote again
    services.article_feedback(article=article, user=bob, helpful=True)
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (2, 0)

    changed = services.article_feedback(article=article, user=alice, helpful=False)
    assert changed.pk == vote.pk and changed.helpful is False
    article.refresh_from_db()
    assert (article.helpful_count, article.not_helpful_count) == (1, 1)
    assert ArticleFeedback.objects.filter(article=article).count() == 2


def test_staff_may_vote(make_article, make_staff):
    vote = services.article_feedback(article=make_article(), user=make_staff(), helpful=False)
    assert vote.article.not_helpful_count == 1


def test_feedback_refused_for_anonymous_and_unpublished(make_article, make_customer):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(Forbidden):
        services.article_feedback(article=make_article(), user=AnonymousUser(), helpful=True)
    with pytest.raises(Forbidden):
        services.article_feedback(article=make_article(), user=None, helpful=True)
    draft = make_article(is_published=False)
    with pytest.raises(NotFound):
        services.article_feedback(article=draft, user=make_customer(), helpful=True)
    draft.refresh_from_db()
    assert draft.helpful_count == 0
    assert not ArticleFeedback.objects.exists()


def test_a_vote_does_not_count_as_an_edit(make_article, make_customer):
    article = make_article()
    vote = services.article_feedback(article=article, user=make_customer(), helpful=True)
    vote.article.refresh_from_db()
    assert vote.article.updated_at == article.updated_at


# ------------------------------------------------------------------- demo data


def test_demo_seed_is_idempotent_and_links_fault_codes(catalogue):
    assert demo.seed() == 12
    assert demo.seed() == 0
    assert Article.objects.filter(is_published=True).count() == 12
    assert Article.objects.filter(language="en").count() == 6
    for article in Article.objects.prefetch_related("fault_codes", "machine_models"):
        assert article.fault_codes.exists(), article.title
        assert article.machine_models.count() == 4
        assert "## " in article.body and ("\n- " in article.body or "\n1. " in article.body)
    # Chinese bodies have no line breaks inside sentences (a browser would show them as spaces).
    chinese = Article.objects.get(title="焊缝飞溅和气孔的原因与处理")
    assert "工件不干净、保护气覆盖不良" in chinese.body
    assert AuditEvent.objects.filter(action="knowledge.article_created").count() == 12
