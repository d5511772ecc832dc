"""Every write to the knowledge base: create and change articles (audited), vote on them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils.text import slugify
from django.utils.translation import gettext as _

from audit.services import audit_record
from core.errors import ApplicationError, Forbidden, NotFound
from equipment.models import FaultCode, MachineModel
from knowledge.models import Article, ArticleFeedback, Language

ARTICLE_FIELDS = ("title", "body", "language", "machine_models", "fault_codes", "is_published")
MIN_TITLE = 3
MAX_TITLE = 200
MAX_BODY = 50_000
MAX_SLUG = 200  # leaves room for a "-NN" suffix in the 220-character column
_SPACES = re.compile(r"\s+")


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(_("Please correct the article."), fields={field: [message]})


def _clean_title(title: Any) -> str:
    title = _SPACES.sub(" ", str(title or "")).strip()
    if len(title) < MIN_TITLE:
        raise _invalid("title", _("Enter at least %(n)s characters.") % {"n": MIN_TITLE})
    if len(title) > MAX_TITLE:
        raise _invalid("title", _("Use at most %(n)s characters.") % {"n": MAX_TITLE})
    return title


def _clean_body(body: Any) -> str:
    body = str(body or "").strip()
    if not body:
        raise _invalid("body", _("This field is required."))
    if len(body) > MAX_BODY:
        raise _invalid("body", _("Use at most %(n)s characters.") % {"n": MAX_BODY})
    return body


def _clean_language(language: Any) -> str:
    if language not in Language.values:
        raise _invalid("language", _("Choose one of: %(c)s.") % {"c": ", ".join(Language.values)})
    return language


def _clean_related(values: Iterable[Any], model: type, field: str) -> list[Any]:
    """Return model instances for instances or primary keys; refuse unknown ones."""
    values = list(values or ())
    instances = [v for v in values if isinstance(v, model)]
    pks = {v for v in values if not isinstance(v, model)}
    if pks:
        found = list(model.objects.filter(pk__in=[p for p in pks if isinstance(p, int)]))
        if len(found) != len(pks):
            raise _invalid(field, _("Choose valid entries."))
        instances += found
    return list({obj.pk: obj for obj in instances}.values())


def article_validate(values: dict[str, Any]) -> None:
    """Raise ApplicationError with every field's message if the values cannot be saved."""
    errors: dict[str, list[str]] = {}
    checks = {"title": _clean_title, "body": _clean_body, "language": _clean_language}
    for name, clean in checks.items():
        if name in values:
            try:
                clean(values[name])
            except ApplicationError as exc:
                errors.update(exc.fields)
    if errors:
        raise ApplicationError(_("Please correct the article."), fields=errors)


def _unique_slug(title: str, language: str, *, exclude_pk: int | None = None) -> str:
    """Return a slug for the title that no other article in the language uses."""
    base = slugify(title, allow_unicode=True)[:MAX_SLUG].strip("-") or "article"
    taken_qs = Article.objects.filter(language=language, slug__startswith=base)
    if exclude_pk is not None:
        taken_qs = taken_qs.exclude(pk=exclude_pk)
    taken = set(taken_qs.values_list("slug", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _author(actor: Any) -> Any:
    if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) is not None:
        return actor
    return None


def _pks(objs: Iterable[Any]) -> list[Any]:
    return sorted(obj.pk for obj in objs)


@transaction.atomic
def article_create(
    *,
    actor: Any,
    title: str,
    body: str,
    language: str,
    machine_models: Iterable[MachineModel | int] = (),
    fault_codes: Iterable[FaultCode | int] = (),
    is_published: bool = False,
) -> Article:
    """Write a new article with a slug unique in its language."""
    title = _clean_title(title)
    body = _clean_body(body)
    language = _clean_language(language)
    models = _clean_related(machine_models, MachineModel, "machine_models")
    codes = _clean_related(fault_codes, FaultCode, "fault_codes")
    for attempt in range(3):
        slug = _unique_slug(title, language)
        try:
            # A savepoint: a concurrent writer may take the same slug between check and insert.
            with transaction.atomic():
                article = Article.objects.create(
                    title=title,
                    slug=slug,
                    body=body,
                    language=language,
                    is_published=bool(is_published),
                    author=_author(actor),
                )
            break
        except IntegrityError:
            if attempt == 2:
                raise
    article.machine_models.set(models)
    article.fault_codes.set(codes)
    audit_record(
        action="knowledge.article_created",
        actor=actor,
        target=article,
        changes={
            "title": title,
            "slug": slug,
            "language": language,
            "is_published": article.is_published,
            "machine_models": _pks(models),
            "fault_codes": _pks(codes),
        },
        data={"body_chars": len(body)},
    )
    return article


@transaction.atomic
def article_update(*, article: Article, actor: Any, **changes: Any) -> Article:
    """Change an article; only what really changes is saved and audited.

    A changed title keeps the slug (links stay valid); a change of language makes the slug
    unique in the new language.
    """
    unknown = set(changes) - set(ARTICLE_FIELDS)
    if unknown:
        raise ApplicationError(_("Unknown fields: %(f)s") % {"f": ", ".join(sorted(unknown))})
    locked = Article.objects.select_for_update().get(pk=article.pk)
    save_fields: list[str] = []
    audited: dict[str, Any] = {}
    cleaners = {"title": _clean_title, "body": _clean_body, "language": _clean_language}
    for name, clean in cleaners.items():
        if name in changes:
            value = clean(changes[name])
            if getattr(locked, name) != value:
                setattr(locked, name, value)
                save_fields.append(name)
                # The body can be long: the audit row keeps its size, not its text.
                audited[name] = {"chars": len(value)} if name == "body" else value
    if "is_published" in changes and bool(changes["is_published"]) != locked.is_published:
        locked.is_published = bool(changes["is_published"])
        save_fields.append("is_published")
        audited["is_published"] = locked.is_published
    if "language" in save_fields:
        slug = _unique_slug(locked.slug, locked.language, exclude_pk=locked.pk)
        if slug != locked.slug:
            locked.slug = audited["slug"] = slug
            save_fields.append("slug")
    for name, model in (("machine_models", MachineModel), ("fault_codes", FaultCode)):
        if name not in changes:
            continue
        wanted = _clean_related(changes[name], model, name)
        manager = getattr(locked, name)
        if set(_pks(wanted)) != set(manager.values_list("pk", flat=True)):
            manager.set(wanted)
            audited[name] = _pks(wanted)
    if audited:
        # Changed links alone also count as an update of the article.
        locked.save(update_fields=[*save_fields, "updated_at"])
        audit_record(
            action="knowledge.article_updated", actor=actor, target=locked, changes=audited
        )
    return locked


@transaction.atomic
def article_feedback(*, article: Article, user: Any, helpful: bool) -> ArticleFeedback:
    """Record a signed-in user's vote; a second vote replaces the first and moves the counts.

    The article row is locked first, so two votes of one user queue instead of both inserting.
    """
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        raise Forbidden(_("Sign in to rate an article."))
    helpful = bool(helpful)
    locked = Article.objects.select_for_update().filter(pk=article.pk).first()
    if locked is None or not locked.is_published:
        raise NotFound(_("No such article."))
    vote = ArticleFeedback.objects.filter(article=locked, user=user).first()
    if vote is not None and vote.helpful == helpful:
        vote.article = locked
        return vote
    up, down = ("helpful_count", "not_helpful_count")
    if not helpful:
        up, down = down, up
    counts: dict[str, Any] = {up: F(up) + 1}
    if vote is None:
        vote = ArticleFeedback.objects.create(article=locked, user=user, helpful=helpful)
    else:
        vote.helpful = helpful
        vote.save(update_fields=["helpful", "updated_at"])
        counts[down] = Greatest(F(down) - 1, 0)
    # updated_at is left alone: a vote is not an edit of the article.
    Article.objects.filter(pk=locked.pk).update(**counts)
    locked.refresh_from_db(fields=["helpful_count", "not_helpful_count"])
    vote.article = locked
    return vote
