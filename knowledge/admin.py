"""Knowledge-base screens for agents: write articles, preview them, see how helpful they are."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin import NoAdminLogMixin
from core.errors import ApplicationError
from core.forms import apply_service_errors
from knowledge import services
from knowledge.markdown import render_markdown
from knowledge.models import Article


class ArticleAdminForm(forms.ModelForm):
    class Meta:
        model = Article
        fields = list(services.ARTICLE_FIELDS)
        widgets = {"body": forms.Textarea(attrs={"rows": 24, "cols": 100})}

    def clean(self):
        data = super().clean()
        values = {k: data[k] for k in ("title", "body", "language") if k in data}
        try:
            services.article_validate(values)
        except ApplicationError as exc:
            apply_service_errors(self, exc)
        return data


@admin.register(Article)
class ArticleAdmin(NoAdminLogMixin, admin.ModelAdmin):
    form = ArticleAdminForm
    list_display = [
        "title",
        "language",
        "is_published",
        "updated_at",
        "helpful_count",
        "not_helpful_count",
    ]
    list_filter = ["language", "is_published", "machine_models"]
    search_fields = ["title"]
    filter_horizontal = ["machine_models", "fault_codes"]
    readonly_fields = [
        "slug",
        "author",
        "created_at",
        "updated_at",
        "helpful_count",
        "not_helpful_count",
        "preview",
    ]
    list_select_related = False
    fieldsets = [
        (None, {"fields": ["title", "language", "is_published", "body"]}),
        (_("Where it applies"), {"fields": ["machine_models", "fault_codes"]}),
        (_("Preview"), {"fields": ["preview"]}),
        (
            _("Details"),
            {
                "fields": [
                    "slug",
                    "author",
                    "created_at",
                    "updated_at",
                    "helpful_count",
                    "not_helpful_count",
                ]
            },
        ),
    ]

    @admin.display(description=_("rendered body"))
    def preview(self, obj: Article | None) -> str:
        if obj is None or not obj.pk:
            return _("Save the article to see how customers will read it.")
        # render_markdown sanitises; format_html keeps its safe result as it is.
        return format_html('<div class="knowledge-preview">{}</div>', render_markdown(obj.body))

    def has_delete_permission(self, request, obj=None):
        # Unpublish instead: votes and audit rows keep pointing at the article.
        return False

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name) for name in services.ARTICLE_FIELDS}
        for name in ("machine_models", "fault_codes"):
            data[name] = list(data[name] or ())
        if change:
            changed = {name: data[name] for name in form.changed_data if name in data}
            saved = services.article_update(
                article=Article.objects.get(pk=obj.pk), actor=request.user, **changed
            )
        else:
            saved = services.article_create(actor=request.user, **data)
        obj.pk = saved.pk
        obj.slug = saved.slug

    def save_related(self, request, form, formsets, change):
        # The links were saved by the service (and audited); only inlines would remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
