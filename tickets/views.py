"""Ticket pages outside the admin: the one-click survey and permission-checked downloads."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core import storage
from core.errors import ApplicationError
from core.malware import ScanStatus, held_for_scan
from tickets import selectors
from tickets.services import surveys


@never_cache
@require_http_methods(["GET", "POST"])
def survey(request, token: str):
    """Show the rating form (GET, score preselected from the link) and record it (POST).

    A GET never records anything, so mail scanners that follow links cannot answer for
    the customer; the customer confirms with one click.
    """
    try:
        item = surveys.survey_from_token(token)
    except ApplicationError as exc:
        return render(
            request, "tickets/survey.html", {"error": exc.message}, status=exc.status_code
        )
    context = {"survey": item, "ticket": item.ticket, "token": token, "scores": range(1, 6)}
    if item.answered_at is not None:
        return render(request, "tickets/survey.html", {**context, "done": True})
    if request.method == "POST":
        try:
            surveys.survey_answer(
                token=token,
                rating=request.POST.get("rating"),
                comment=request.POST.get("comment", ""),
            )
        except ApplicationError as exc:
            context.update(error=exc.message, fields=exc.fields)
            return render(request, "tickets/survey.html", context, status=exc.status_code)
        return render(request, "tickets/survey.html", {**context, "done": True, "thanks": True})
    score = request.GET.get("score", "")
    context["selected"] = int(score) if score.isdigit() and 1 <= int(score) <= 5 else None
    return render(request, "tickets/survey.html", context)


@login_required
@never_cache
def attachment_download(request, pk: int):
    """Serve an attachment the user may see, always as a download: from an object store by a
    redirect to a short-lived signed URL, from the disk by nginx (X-Accel-Redirect) or here."""
    attachment = selectors.attachment_get(user=request.user, pk=pk)
    if attachment.scan_status == ScanStatus.PENDING:
        return held_for_scan()
    redirect = storage.signed_redirect(
        attachment.file,
        filename=attachment.original_name,
        content_type=attachment.content_type,
        inline=False,
    )
    if redirect is not None:
        return redirect
    if settings.ATTACHMENT_X_ACCEL_PREFIX:
        response = HttpResponse(content_type=attachment.content_type)
        response["X-Accel-Redirect"] = (
            settings.ATTACHMENT_X_ACCEL_PREFIX.rstrip("/") + "/" + attachment.file.name
        )
    else:
        try:
            handle = attachment.file.open("rb")
        except FileNotFoundError as exc:
            raise Http404 from exc
        response = FileResponse(handle, content_type=attachment.content_type)
        response["Content-Length"] = str(attachment.size)
    response["Content-Disposition"] = content_disposition_header(True, attachment.original_name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
