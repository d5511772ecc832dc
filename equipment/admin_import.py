"""The admin's "Import installed base" page and the export actions of the unit list.

Supervisors and superusers only (anyone else: 403). Uploading previews: the file is read and
planned (a dry run) and the page shows the counts, the first changes and the row errors. The
file then waits server-side, encrypted, in the cache for an hour under a random key; the
confirm form carries a signed token naming that key, the uploader and the file's SHA-256, so
applying needs no second upload and nobody else's token or a changed file is accepted. A bad
file, a stale or forged token is a 400 with the reason, never a 500.
"""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import messages
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import selectors as account_selectors
from core import crypto
from equipment.importing import (
    MAX_BYTES,
    ImportRefused,
    export,
    import_installed_base,
    may_import,
    preview,
)
from equipment.importing.apply import file_hash
from equipment.importing.export import export_recorded

SALT = "equipment.import"
KEEP_SECONDS = 3600
SHOW = 50


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV or XLSX file"))
    move = forms.BooleanField(
        label=gettext_lazy("Move units whose serial belongs to another organisation"),
        required=False,
    )


class ConfirmForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput)


def _render(model_admin, request, context, status=200) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": _("Import installed base"),
        "max_mb": MAX_BYTES // 2**20,
        "form": UploadForm(),
        **context,
    }
    return TemplateResponse(request, "admin/equipment/unit/import.html", context, status=status)


def _refused(model_admin, request, message: str) -> TemplateResponse:
    return _render(model_admin, request, {"refusal": message}, status=400)


def import_view(model_admin, request):
    if not may_import(request.user):
        raise PermissionDenied
    if request.method == "POST" and "token" in request.POST:
        return _apply(model_admin, request)
    if request.method != "POST":
        return _render(model_admin, request, {"form": UploadForm()})
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(model_admin, request, {"form": form}, status=400)
    upload = form.cleaned_data["file"]
    if upload.size > MAX_BYTES:
        return _refused(
            model_admin,
            request,
            _("The file is larger than %(mb)s MB; split it.") % {"mb": MAX_BYTES // 2**20},
        )
    data = upload.read()
    move = form.cleaned_data["move"]
    try:
        plan = preview(data=data, move=move)
    except ImportRefused as exc:
        return _refused(model_admin, request, exc.message)
    token = ""
    if plan.ok and plan.changes:
        key = f"equipment-import:{secrets.token_urlsafe(24)}"
        cache.set(key, crypto.crypter().encrypt(data), KEEP_SECONDS)
        token = signing.dumps(
            {"key": key, "user": request.user.pk, "sha256": plan.sha256, "move": move}, salt=SALT
        )
    return _render(
        model_admin,
        request,
        {
            "plan": plan,
            "counts": plan.counts_dict(),
            "changes": plan.changes[:SHOW],
            "more_changes": max(len(plan.changes) - SHOW, 0),
            "errors": [str(e) for e in plan.errors[:SHOW]],
            "more_errors": max(len(plan.errors) - SHOW, 0),
            "confirm": ConfirmForm(initial={"token": token}) if token else None,
        },
        status=400 if plan.errors else 200,
    )


def _apply(model_admin, request):
    try:
        ticket = signing.loads(request.POST["token"], salt=SALT, max_age=KEEP_SECONDS)
    except signing.BadSignature:
        return _refused(model_admin, request, _("This preview has expired; upload the file again."))
    if ticket.get("user") != request.user.pk:
        return _refused(model_admin, request, _("This preview is not yours; upload the file."))
    stored = cache.get(ticket["key"])
    if stored is None:
        return _refused(model_admin, request, _("This preview has expired; upload the file again."))
    data = crypto.crypter().decrypt(stored)
    if file_hash(data) != ticket["sha256"]:
        return _refused(model_admin, request, _("The file changed; upload it again."))
    try:
        plan = import_installed_base(data=data, actor=request.user, move=ticket["move"])
    except ImportRefused as exc:
        return _refused(model_admin, request, exc.message)
    if plan.errors:
        # The desk changed between preview and confirmation: show what is wrong now.
        return _render(
            model_admin,
            request,
            {
                "plan": plan,
                "counts": plan.counts_dict(),
                "errors": [str(e) for e in plan.errors[:SHOW]],
                "more_errors": max(len(plan.errors) - SHOW, 0),
            },
            status=400,
        )
    cache.delete(ticket["key"])
    counts = plan.counts_dict()
    model_admin.message_user(
        request,
        _(
            "Imported: %(oc)s organisations created, %(ou)s updated; %(cc)s contacts created, "
            "%(cu)s updated; %(uc)s units created, %(uu)s updated."
        )
        % {
            "oc": counts["organisations"]["create"],
            "ou": counts["organisations"]["update"],
            "cc": counts["contacts"]["create"],
            "cu": counts["contacts"]["update"],
            "uc": counts["units"]["create"],
            "uu": counts["units"]["update"],
        },
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:equipment_unit_changelist"))


def _export(request, queryset, fmt: str) -> HttpResponse:
    if not may_import(request.user):
        raise PermissionDenied
    organisations = account_selectors.organisations_for_export(
        ids=queryset.values("organisation_id")
    )
    data = export(fmt=fmt, organisations=organisations, units=queryset)
    export_recorded(actor=request.user, fmt=fmt, units=queryset.count())
    content_type = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response = HttpResponse(data, content_type=content_type)
    name = f"installed-base-{timezone.localdate():%Y%m%d}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def export_csv(model_admin, request, queryset):
    return _export(request, queryset, "csv")


export_csv.short_description = gettext_lazy("Export the selected units' installed base (CSV)")


def export_xlsx(model_admin, request, queryset):
    return _export(request, queryset, "xlsx")


export_xlsx.short_description = gettext_lazy("Export the selected units' installed base (XLSX)")
