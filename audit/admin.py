"""The compliance officers' audit screens: search the chain and export it, signed.

Only staff with `audit.view_auditevent` (compliance officers) see the events, after their
second factor like every staff page; exporting needs `audit.export_auditevent` and is itself
audited (when it starts, and with its SHA-256 when it ends).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit import export, people, records, selectors, signing
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import audit_read, audit_record
from core import sealed_search
from core.admin import AllRegionsOnlyMixin, ReadOnlyAdminMixin
from core.streaming import streaming_response

# Higher apps turn what an officer types into an actor reference (accounts: an e-mail
# address into "user:<id>"), without audit knowing their models.
ACTOR_RESOLVERS: list[Callable[[str], str | None]] = []
SEARCH_FIELDS = ("actor", "action", "target", "since", "until")
ACTOR_MAX = 254


class SearchForm(sealed_search.SealedSearchFormMixin, forms.Form):
    # The actor travels sealed (it may be an e-mail address): see AuditEventAdmin.
    actor = sealed_search.SealedSearchField(
        label=gettext_lazy("Actor"),
        max_length=ACTOR_MAX,
        help_text=gettext_lazy("user:42, system:sla, or a staff member's e-mail address"),
    )
    action = forms.CharField(
        label=gettext_lazy("Action"),
        required=False,
        max_length=64,
        help_text=gettext_lazy(
            "e.g. ticket.viewed; ticket.* for all ticket actions; *.viewed for every read"
        ),
    )
    target = forms.CharField(
        label=gettext_lazy("Target"),
        required=False,
        max_length=130,
        help_text=gettext_lazy("type or type:id, e.g. tickets.ticket:17"),
    )
    since = forms.DateField(label=gettext_lazy("From (day)"), required=False)
    until = forms.DateField(label=gettext_lazy("To (day, inclusive)"), required=False)

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise forms.ValidationError(_("The last day comes before the first."))
        return data

    def filters(self) -> export.Filters:
        data = self.cleaned_data
        actor = data.get("actor", "").strip()
        if "@" in actor:
            for resolve in ACTOR_RESOLVERS:
                actor = resolve(actor) or actor
        target_type, _sep, target_id = data.get("target", "").strip().partition(":")

        def day(value: dt.date | None, *, after: bool = False) -> dt.datetime | None:
            if value is None:
                return None
            start = timezone.make_aware(dt.datetime.combine(value, dt.time()))
            return start + dt.timedelta(days=1) if after else start

        return export.Filters(
            actor=actor,
            action=data.get("action", "").strip(),
            target_type=target_type,
            target_id=target_id,
            since=day(data.get("since")),
            until=day(data.get("until"), after=True),
        )


class ReadAuditedMixin:
    """For admin pages that show personal data: every staff read of a record's page is
    audited (`<model>.viewed`), without an extra query."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and getattr(response, "status_code", 0) == 200:
            audit_read(
                actor=request.user,
                target_type=self.model._meta.label_lower,
                target_id=object_id,
            )
        return response


class AuditChangeList(ChangeList):
    """The event list: the search's parameters are no field lookups (SearchForm applies them
    in get_queryset), yet they stay in the query, so every link the list makes (pages,
    sorting, "Show all", an event and back) keeps the search."""

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        for name in SEARCH_FIELDS:
            lookup_params.pop(name, None)
        return lookup_params

    def get_results(self, request):
        super().get_results(request)
        label_people(request.user, self.result_list)


def label_people(viewer, events) -> None:
    """Give each event the names of its actor and (a person) target for this viewer, resolved
    as the page is drawn in one pass for the whole page (the chain keeps references only)."""
    events = list(events)
    refs = {e.actor_ref for e in events} | {_person_target(e) for e in events}
    labels = people.labels(viewer, refs - {""})
    for event in events:
        event.actor_label = labels.get(event.actor_ref, event.actor_ref)
        target = _person_target(event)
        event.target_label = labels[target] if target else ""


def _person_target(event: AuditEvent) -> str:
    """The reference of an event's target when it is an account ("user:10"), else ""."""
    if event.target_type == "accounts.user" and event.target_id.isdigit():
        return f"user:{event.target_id}"
    return ""


@admin.register(AuditEvent)
class AuditEventAdmin(AllRegionsOnlyMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The chain holds every region's events (actors, targets, addresses): compliance
    officers' screen, closed to staff limited to regions whatever permission they hold."""

    list_display = ["seq", "at", "actor", "action", "outcome", "target"]
    list_per_page = 100
    show_full_result_count = False
    change_list_template = "admin/audit/auditevent/change_list.html"
    readonly_fields = ["actor", "target_person", *(f.name for f in AuditEvent._meta.fields)]
    fields = [
        *("seq", "at", "actor", "actor_ref", "action", "outcome", "target_type", "target_id"),
        *("target_person", "changed_fields", "data", "ip", "request_id", "prev_hash", "hash"),
    ]

    @admin.display(description=gettext_lazy("actor"), ordering="actor_ref")
    def actor(self, obj: AuditEvent) -> str:
        return getattr(obj, "actor_label", obj.actor_ref)

    @admin.display(description=gettext_lazy("target"))
    def target(self, obj: AuditEvent) -> str:
        if getattr(obj, "target_label", ""):
            return obj.target_label
        return f"{obj.target_type}:{obj.target_id}" if obj.target_type else ""

    @admin.display(description=gettext_lazy("person concerned"))
    def target_person(self, obj: AuditEvent) -> str:
        return getattr(obj, "target_label", "") or "-"

    def get_object(self, request, object_id, from_field=None):
        event = super().get_object(request, object_id, from_field)
        if event is not None:
            label_people(request.user, [event])
        return event

    def get_urls(self):
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="audit_export"),
            path(
                "public-key.pem",
                self.admin_site.admin_view(self.public_key_view),
                name="audit_public_key",
            ),
            path(
                "records-of-processing/",
                self.admin_site.admin_view(self.records_view),
                name="audit_records_of_processing",
            ),
            *super().get_urls(),
        ]

    def _search(self, request) -> SearchForm:
        form = SearchForm(
            {k: request.GET[k] for k in SEARCH_FIELDS if k in request.GET}, request=request
        )
        if "actor" in form.data:
            # The box shows the actor as typed, never its seal.
            opened = form.cleaned_data.get("actor", "") if form.is_valid() else ""
            form.data["actor"] = opened
        return form

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and "actor" in request.POST:
            return self._search_redirect(request)
        form = self._search(request)
        # An invalid search shows its errors and no events (not every event).
        request._audit_filters = form.filters() if form.is_valid() else None
        # The export repeats the search as the URL has it (the actor sealed).
        export_query = urlencode({k: request.GET[k] for k in SEARCH_FIELDS if request.GET.get(k)})
        extra = {
            "search_form": form,
            "export_query": export_query,
            "can_export": request.user.has_perm("audit.export_auditevent"),
            "signing_key": signing_key_context(),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def _search_redirect(self, request):
        """The search form posts; answer with the list of that search, its actor sealed.

        An officer looks people up by e-mail address, which must reach no URL or log.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = {k: request.POST.get(k, "").strip() for k in SEARCH_FIELDS}
        query = {k: v for k, v in query.items() if v}
        return sealed_search.sealed_redirect(request, request.path, query, sealed=("actor",))

    def get_changelist(self, request, **kwargs):
        return AuditChangeList

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if not hasattr(request, "_audit_filters"):
            return queryset  # a single event's page
        filters = request._audit_filters
        return queryset.filter(filters.q()) if filters is not None else queryset.none()

    def records_view(self, request):
        """The records of processing (GDPR art. 30, PIPL art. 54), written for a regulator:
        the activities with their purposes, legal bases, people, recipients, retention and
        safeguards (audit.records), then the data held by category, derived from the registry
        of personal-data fields (core.privacy) so it cannot fall behind the code."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Records of processing activities"),
            "opts": self.model._meta,
            "activities": records.ACTIVITIES,
            "safeguards": records.SAFEGUARDS,
            "data_held": records.data_held(),
            "generated": timezone.localdate(),
        }
        request.current_app = self.admin_site.name
        printable = request.GET.get("format") == "print"
        template = "records_of_processing_print" if printable else "records_of_processing"
        return TemplateResponse(request, f"admin/audit/{template}.html", context)

    def public_key_view(self, request):
        """The export signing key's public half as a PEM file, for the auditor's verifier."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponse(signing.public_key_pem(), content_type="application/x-pem-file")
        response["Content-Disposition"] = 'attachment; filename="welddesk-audit-public-key.pem"'
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def export_view(self, request):
        if not (
            self.has_view_permission(request) and request.user.has_perm("audit.export_auditevent")
        ):
            raise PermissionDenied
        form = self._search(request)
        if not form.is_valid():
            errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
            return HttpResponseBadRequest(
                _("This search cannot be exported: %(errors)s") % {"errors": errors},
                content_type="text/plain; charset=utf-8",
            )
        fmt = request.GET.get("format", "csv")
        if fmt not in export.FORMATS:
            fmt = "csv"
        filters = form.filters()
        actor = request.user
        audit_record(
            action="audit.export_started",
            actor=actor,
            data={"format": fmt, "filters": filters.as_dict()},
        )
        summary = export.Summary()

        def body():
            yield from export.stream(
                filters=filters, fmt=fmt, exporter=f"user:{actor.pk}", summary=summary
            )
            audit_record(
                action="audit.exported",
                actor=actor,
                data={
                    "format": fmt,
                    "filters": filters.as_dict(),
                    "count": summary.count,
                    "sha256": summary.sha256,
                },
            )

        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response = streaming_response(request, body(), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="audit-export-{stamp}.zip"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


def signing_key_context() -> dict:
    """What the audit screen shows of the signing key: the public key and its fingerprint."""
    public = signing.public_key_b64()
    return {"public_key": public, "fingerprint": signing.fingerprint(public)}


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The signed checkpoints of the chain, for compliance officers and supervisors.

    Each row is the database's copy of a line of the external store (AUDIT_CHECKPOINT_PATH);
    its signature is checked as the page is drawn, so an edited row shows as not valid.
    """

    list_display = ["at", "seq", "hash", "key", "signature_valid"]
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = [*(f.name for f in AuditCheckpoint._meta.fields), "signature_valid"]

    @admin.display(description=gettext_lazy("key"))
    def key(self, obj: AuditCheckpoint) -> str:
        return signing.key_id(obj.public_key)

    @admin.display(description=gettext_lazy("signature valid"), boolean=True)
    def signature_valid(self, obj: AuditCheckpoint) -> bool:
        body = selectors.stored_checkpoint(obj).body()
        return not signing.verify(body, trusted=signing.trusted_public_keys())
