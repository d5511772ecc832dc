"""POST /api/v1/mail/inbound: one raw e-mail (RFC 5322 bytes) from an MTA's pipe or a
provider's webhook, bearer-token authenticated (MAIL_INGEST_TOKEN; empty turns it off).

The body is the mail itself, read up to MAIL_MAX_BYTES (a longer one is a 413 before it is
read whole); `?queue=<code>` names the queue of new tickets. 200 with what became of it (a
mail sent twice answers the first outcome, `duplicate`: true); 400 for bytes that are no
mail; 401 without the token. A database that is away answers 503 (core.errors): the sender
keeps the mail and retries.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from core import machine_auth
from core.errors import ApplicationError
from core.schema import Error
from intake.mail.services import mail_ingest
from tickets.models import Queue


def read_limited(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body, or None when it is longer than `limit` (judged by Content-Length
    first, then by what arrives: a chunked body has none)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    data = request.read(limit + 1)
    return None if len(data) > limit else data


class MailInbound(machine_auth.MachineWebhook):
    parser_classes: list = []  # the body is read raw, never parsed as JSON

    @extend_schema(
        summary="Receive one raw e-mail",
        description=(
            "The request body is the e-mail as received (message/rfc822 or "
            "application/octet-stream; the Content-Type is not read). It becomes a new "
            "ticket or a reply to the ticket it answers (threaded by In-Reply-To, "
            "References and the reference in the subject); see docs/email.md."
        ),
        auth=[{"MachineBearer": []}],
        parameters=[
            OpenApiParameter("queue", OpenApiTypes.STR, description="Queue code for new tickets")
        ],
        # Documented as octet-stream (what schema tools can send); the Content-Type is not
        # read, so an MTA's message/rfc822 is the same.
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={
            200: inline_serializer(
                "MailIngested",
                {
                    "outcome": serializers.CharField(),
                    "ticket": serializers.IntegerField(allow_null=True),
                    "duplicate": serializers.BooleanField(),
                },
            ),
            400: Error,
            401: Error,
            413: Error,
        },
    )
    def post(self, request: Request) -> JsonResponse:
        if not machine_auth.bearer_ok(request, settings.MAIL_INGEST_TOKEN):
            return machine_auth.refused()
        raw = read_limited(request._request, settings.MAIL_MAX_BYTES)
        if raw is None:
            return machine_auth.error("too_large", "The e-mail is larger than the limit.", 413)
        queue = None
        code = request.query_params.get("queue", "")
        if code:
            queue = Queue.objects.filter(slug=code[:40], is_active=True).first()
            if queue is None:
                return machine_auth.error("unknown_queue", "No active queue with this code.", 400)
        try:
            done = mail_ingest(raw=raw, source="endpoint", queue=queue)
        except ApplicationError as exc:
            return machine_auth.error(exc.code, str(exc.message), exc.status_code or 400)
        return JsonResponse(
            {"outcome": done.outcome, "ticket": done.ticket_id, "duplicate": done.duplicate}
        )


mail_inbound = MailInbound.as_view()
