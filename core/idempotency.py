"""Idempotency-Key for POST: the same key and body give the same answer and one effect.

- same key, same request: the stored status and body are replayed (`Idempotent-Replayed: true`);
- same key, different request: 422;
- same key while the first request is still running: 409;
- keys are scoped (e.g. per organisation), so two customers may use the same key.
A 5xx answer or an exception frees the key so the client can retry, unless the writes were
committed already (an after-commit step failed): then the committed answer stands. A claim
whose process was killed mid-request is taken over by the next retry as soon as its database
session is gone (PostgreSQL: the claim keeps its connection's backend pid, which the server
drops with the dead process's connection; the kill drill in servicedesk/tests/test_failover.py
sees the retry succeed at once). Where that cannot be known (SQLite; a pooler such as
PgBouncer keeps the backend alive) it stays in flight (409) until IDEMPOTENCY_STALE_SECONDS
(5 minutes). Records expire after IDEMPOTENCY_TTL_HOURS and are purged by the
`core.purge_idempotency` task.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response

from core import jsoninput
from core.errors import ApplicationError, Conflict
from core.models import IdempotencyRecord
from core.queue import batched

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _form_payload(data) -> bytes:
    """A multipart form as canonical JSON: fields sorted, each file by name, size and SHA-256.

    The raw body would do neither: its boundary changes on every retry, and once the form has
    been parsed (a session's CSRF check reads it) the raw body is gone.
    """
    canonical: dict[str, list] = {}
    for name in sorted(data):
        values = data.getlist(name) if hasattr(data, "getlist") else [data[name]]
        canonical[name] = []
        for value in values:
            if hasattr(value, "chunks"):
                content = hashlib.sha256()
                for chunk in value.chunks():
                    content.update(chunk)
                value.seek(0)
                canonical[name].append([value.name, value.size, content.hexdigest()])
            else:
                canonical[name].append(value)
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str).encode()


def request_fingerprint(request) -> str:
    """Hash the method, path and body (JSON bodies canonicalised, so key order does not matter;
    multipart forms by their fields and files)."""
    if (getattr(request, "content_type", "") or "").startswith("multipart/form-data"):
        payload = _form_payload(request.data)
    else:
        raw = request.body if hasattr(request, "body") else b""
        try:
            body = json.dumps(jsoninput.loads(raw), sort_keys=True, separators=(",", ":"))
            payload = body.encode()
        except jsoninput.JSONInputError:
            payload = raw  # not JSON (a form, or JSON the parser will refuse): hashed as it came
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    digest.update(payload)
    return digest.hexdigest()


def _backend_pid() -> int | None:
    """The PostgreSQL server process of this connection (known to psycopg: no query)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def _abandoned(record: IdempotencyRecord) -> bool:
    """An in-flight claim nobody is working on: its backend is gone (PostgreSQL), or it is
    older than IDEMPOTENCY_STALE_SECONDS (anywhere)."""
    from django.db import connection

    stale_after = dt.timedelta(seconds=settings.IDEMPOTENCY_STALE_SECONDS)
    if timezone.now() - record.created_at > stale_after:
        return True
    if record.holder_pid is None or connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [record.holder_pid])
        return cursor.fetchone() is None


def _claim(scope: str, key: str, fingerprint: str) -> IdempotencyRecord | Response:
    """Insert an in-flight record, or answer from the existing one."""
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    scope=scope, key=key, request_hash=fingerprint, holder_pid=_backend_pid()
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
            if existing is None:
                continue  # it was freed meanwhile: try again
            if existing.request_hash != fingerprint:
                raise ApplicationError(
                    _(
                        "This Idempotency-Key was already used with a different request. "
                        "Use a new key for a new request."
                    ),
                    code="idempotency_key_reused",
                    status_code=422,
                ) from None
            if existing.completed:
                response = Response(existing.response_body, status=existing.status_code)
                response["Idempotent-Replayed"] = "true"
                return response
            if _abandoned(existing):  # its process died: this retry takes the key over
                IdempotencyRecord.objects.filter(pk=existing.pk, completed=False).delete()
                continue
            raise Conflict(
                _("A request with this Idempotency-Key is still being processed. Retry later."),
                code="idempotency_in_flight",
            ) from None
    raise Conflict(_("The Idempotency-Key is busy. Retry later."), code="idempotency_in_flight")


def idempotent(request, *, scope: str, handler: Callable[[], Response]) -> Response:
    """Run handler once per (scope, Idempotency-Key); without the header just run it."""
    # What the write hands over after its commit (tasks, live events) goes out together.
    with batched():
        return _idempotent(request, scope=scope, handler=handler)


def _idempotent(request, *, scope: str, handler: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    if not _VALID_KEY.match(key):
        raise ApplicationError(
            _("The Idempotency-Key header must be 1 to 255 visible ASCII characters."),
            code="invalid_idempotency_key",
            fields={HEADER: [_("Use for example a UUID.")]},
        )
    claimed = _claim(scope, key, request_fingerprint(request))
    if isinstance(claimed, Response):
        return claimed
    committed: list[bool] = []
    try:
        with transaction.atomic():
            # Runs first among the after-commit callbacks: an exception from a later one
            # must not free a key whose writes and answer are committed (a retry would then
            # create a second ticket).
            transaction.on_commit(lambda: committed.append(True))
            try:
                response = handler()
            except ApplicationError as exc:
                # A refused request is a deterministic answer: store it like a success.
                from core.errors import error_body

                response = Response(
                    error_body(code=exc.code, message=exc.message, fields=exc.fields),
                    status=exc.status_code,
                )
            if response.status_code >= 500:
                raise _Retryable(response)
            IdempotencyRecord.objects.filter(pk=claimed.pk).update(
                completed=True,
                status_code=response.status_code,
                response_body=json.loads(json.dumps(response.data, default=str)),
            )
        return response
    except _Retryable as exc:
        IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
        return exc.response
    except Exception as exc:
        if committed:
            log.exception("an after-commit step failed; the committed answer stands")
            return response
        try:
            stored = _committed_answer(claimed.pk)
        except DatabaseError:
            # The database is gone: the claim stays (409 until IDEMPOTENCY_STALE_SECONDS),
            # never a duplicate.
            raise exc from None
        if stored is not None:
            # The connection broke while committing, but the commit went through.
            log.exception("the commit was answered by an error but took place; answer stands")
            return stored
        IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
        raise
    except BaseException:
        if not committed:
            IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
        raise


def _committed_answer(pk: int) -> Response | None:
    """The stored answer of a claim whose request committed (read on a working connection)."""
    from django.db import connection

    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()
    record = IdempotencyRecord.objects.filter(pk=pk, completed=True).first()
    if record is None:
        return None
    return Response(record.response_body, status=record.status_code)


class _Retryable(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def idempotency_purge(*, now: dt.datetime | None = None) -> int:
    """Delete records past their time to live; return how many."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
