"""Chat files over HTTP: upload to a conversation, download (permission-checked)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from chat import services
from chat.frames import attachment_frame
from core import storage
from core.errors import ApplicationError, NotFound, error_body
from core.malware import ScanStatus, held_for_scan
from core.storage import INLINE_TYPES


@login_required
@require_POST
def upload(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """Store one file (field "file") for the conversation; answer its id for a message."""
    try:
        conversation = services.conversation_for(user=request.user, pk=conversation_id)
        file = request.FILES.get("file")
        if file is None:
            raise ApplicationError("Send the file in the field “file”.", code="no_file")
        attachment = services.attachment_upload(
            conversation=conversation, user=request.user, upload=file
        )
    except ApplicationError as exc:
        return JsonResponse(error_body(code=exc.code, message=exc.message), status=exc.status_code)
    return JsonResponse(attachment_frame(attachment), status=201)


@login_required
@never_cache
@require_GET
def attachment(request: HttpRequest, pk: int) -> HttpResponse:
    """Serve a chat file to someone in the conversation: images inline, the rest as download."""
    try:
        item = services.attachment_for(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404 from exc
    if item.scan_status == ScanStatus.PENDING:
        return held_for_scan()
    inline = item.content_type in INLINE_TYPES
    redirect = storage.signed_redirect(
        item.file, filename=item.original_name, content_type=item.content_type, inline=inline
    )
    if redirect is not None:
        return redirect  # a short-lived signed URL of the object store
    try:
        handle = item.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = FileResponse(handle, content_type=item.content_type)
    response["Content-Length"] = str(item.size)
    response["Content-Disposition"] = content_disposition_header(not inline, item.original_name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
