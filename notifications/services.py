"""Write to the outbox, deliver from it exactly once per key, and sweep what was left behind."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
import uuid
from datetime import timedelta
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Count, Min
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from prometheus_client.core import GaugeMetricFamily

from audit.services import audit_record
from core.errors import ApplicationError
from core.logging import one_line
from core.models import lock_or_insert
from core.net import public_http_url
from core.queue import enqueue_on_commit, send_now
from notifications import endpoints, sms, webhooks, webpush, wechat, wecom
from notifications.models import (
    Channel,
    Outbox,
    PushSubscription,
    Status,
    WebhookAttempt,
    WebhookDelivery,
)

log = logging.getLogger(__name__)

DELIVER_TASK = "notifications.deliver_outbox"
DELIVER_MANY_TASK = "notifications.deliver_outbox_many"
DELIVER_BATCH = 25


def _enqueue(**fields: Any) -> Outbox:
    """Add a delivery to the outbox in the caller's transaction; hand it over after commit.

    Private to notifications: other apps compose a message and name the person
    (`notifications.messages.notify`), which decides the channels and calls this. The same
    key twice gives one row and one delivery. The fields are `_write`'s: key, channel,
    recipient, body, subject, language, about, headers (names checked by
    notifications.messages; they may thread an e-mail, whose Message-ID `_write` chooses)
    and hand_over (False for a caller writing many rows, who hands their ids over together
    with `outbox_hand_over`).
    """
    _only_from_notifications(sys._getframe(1))
    return _write(**fields)[0]


def _enqueue_new(**fields: Any) -> int | None:
    """`_enqueue`, returning the new row's id, or None when the key was written before."""
    _only_from_notifications(sys._getframe(1))
    row, new = _write(**fields)
    return row.pk if new else None


def _enqueue_in_batch(batch: Any, deliveries: list[dict[str, Any]], *, hand_over: bool) -> None:
    """Queue new deliveries in the caller's `core.batch.InsertBatch` (ON CONFLICT (key) DO
    NOTHING, as `_enqueue_new`); the rows inserted are handed over after commit."""
    _only_from_notifications(sys._getframe(1))
    rows = [_row(**{k: v for k, v in d.items() if k != "hand_over"}) for d in deliveries]
    batch.add(
        Outbox,
        rows,
        conflict_target=("key",),
        on_pks=outbox_hand_over if hand_over else None,
    )


def _enqueue_new_many(deliveries: list[dict[str, Any]]) -> list[int]:
    """Write many deliveries (`_write`'s fields, hand_over False) in a few multi-row inserts;
    return the ids of the rows written now (a key written before is skipped, as one by one)."""
    _only_from_notifications(sys._getframe(1))
    rows = [_row(**fields) for fields in deliveries]
    return _insert_many_unless_key_exists(rows)


def _only_from_notifications(frame: Any) -> None:
    """Refuse a write from outside this app at run time (the static check is
    notifications/tests/test_one_path.py): the channels are chosen in one place only."""
    caller = frame.f_globals.get("__name__", "")
    if caller != "notifications" and not caller.startswith("notifications."):
        raise RuntimeError(
            f"{caller} wrote to the outbox: compose a notifications.messages.Message and call "
            "notifications.messages.notify instead."
        )


def _row(
    *,
    key: str,
    channel: str,
    recipient: str,
    body: str,
    subject: str = "",
    language: str = "en",
    about: models.Model | None = None,
    about_ref: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    hand_over: bool = True,
) -> Outbox:
    """The outbox row of one delivery, checked and unsaved (its Message-ID chosen);
    `about_ref` is (type, id) of what it is about, for a caller without the object (a
    fan-out); `hand_over` is the caller's business and ignored here."""
    if channel not in Channel.values:
        raise ApplicationError(f"Unknown notification channel {channel!r}.")
    if not recipient or not recipient.strip():
        raise ApplicationError("A notification needs a recipient.")
    if not key or len(key) > 200:
        raise ApplicationError("A notification key must have 1 to 200 characters.")
    row = Outbox(
        key=key,
        channel=channel,
        recipient=recipient.strip(),
        subject=one_line(subject)[:300],
        body=body,
        language=language,
        headers=dict(headers or {}),
        about_type=about._meta.label_lower if about is not None else "",
        about_id=str(about.pk) if about is not None else "",
    )
    if about is None and about_ref is not None:
        row.about_type, row.about_id = about_ref[0][:64], str(about_ref[1])[:64]
    if channel == Channel.EMAIL:
        # Chosen once and stored: a retry sends the same Message-ID, and a customer's answer
        # quoting it in In-Reply-To finds what it answers (selectors.about_of_message_ids).
        row.message_id = _message_id(key)
    return row


def _write(**fields: Any) -> tuple[Outbox, bool]:
    hand_over = fields.pop("hand_over", True)
    row = _row(**fields)
    pk = _insert_unless_key_exists(row)
    if pk is None:
        return Outbox.objects.get(key=row.key), False
    row.pk = pk
    row._state.adding = False
    if hand_over:
        enqueue_on_commit(DELIVER_TASK, row.pk)
    return row, True


def outbox_hand_over(ids: list[int]) -> None:
    """After commit, hand these rows to the workers in tasks of up to DELIVER_BATCH ids each.

    One publish per batch instead of one per row; a row the broker never got is sent by the
    sweep like any other.
    """
    for start in range(0, len(ids), DELIVER_BATCH):
        enqueue_on_commit(DELIVER_MANY_TASK, ids[start : start + DELIVER_BATCH])


_INSERT_FIELDS = [f for f in Outbox._meta.concrete_fields if not f.primary_key]


def _insert_unless_key_exists(row: Outbox) -> int | None:
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id: one round trip, no savepoint.

    Returns the new id, or None when a row with the key already exists.
    """
    values = []
    for field in _INSERT_FIELDS:
        value = field.pre_save(row, add=True)
        values.append(field.get_db_prep_save(value, connection))
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _INSERT_FIELDS)
    marks = ", ".join(["%s"] * len(values))
    sql = (
        f"INSERT INTO {quote(Outbox._meta.db_table)} ({columns}) VALUES ({marks}) "  # noqa: S608
        f"ON CONFLICT ({quote('key')}) DO NOTHING RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        found = cursor.fetchone()
    return found[0] if found else None


def _insert_many_unless_key_exists(rows: list[Outbox]) -> list[int]:
    """INSERT ... VALUES (...), (...) ON CONFLICT (key) DO NOTHING RETURNING id, in batches the
    database accepts: the ids of the new rows."""
    if not rows:
        return []
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _INSERT_FIELDS)
    # At most 500 rows a statement: PostgreSQL takes at most 65,535 parameters in one.
    size = max(1, min(500, connection.ops.bulk_batch_size(_INSERT_FIELDS, rows)))
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            values: list[Any] = []
            for row in batch:
                for field in _INSERT_FIELDS:
                    values.append(field.get_db_prep_save(field.pre_save(row, add=True), connection))
            marks = ", ".join(["(" + ", ".join(["%s"] * len(_INSERT_FIELDS)) + ")"] * len(batch))
            cursor.execute(
                f"INSERT INTO {quote(Outbox._meta.db_table)} ({columns}) "  # noqa: S608
                f"VALUES {marks} ON CONFLICT ({quote('key')}) DO NOTHING RETURNING {quote('id')}",
                values,
            )
            ids += [found[0] for found in cursor.fetchall()]
    return ids


def _message_id(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return make_msgid(idstring=digest, domain="welddesk.outbox")


def _send(row: Outbox) -> int | None:
    """Send one row by its channel; a webhook returns the receiver's HTTP status."""
    if row.channel == Channel.EMAIL:
        message = EmailMessage(
            subject=one_line(row.subject),
            body=row.body,
            to=[row.recipient],
            headers={
                **{name: one_line(value) for name, value in (row.headers or {}).items()},
                "Message-ID": row.message_id or _message_id(row.key),
                "X-WeldDesk-Delivery": hashlib.sha256(row.key.encode()).hexdigest()[:32],
            },
        )
        message.send(fail_silently=False)
    elif row.channel == Channel.SMS:
        sms.get_backend().send(to=row.recipient, body=row.body, key=row.key)
    elif row.channel == Channel.WECOM:
        wecom.get_backend().send(to=row.recipient, body=row.body, key=row.key)
    elif row.channel == Channel.WECHAT:
        wechat.get_backend().send(to=row.recipient, body=row.body, key=row.key)
    elif row.channel == Channel.WEBHOOK:
        return webhooks.deliver(url=row.recipient, body=row.body, key=row.key)
    elif row.channel == Channel.ORG_WEBHOOK:
        return endpoints.send(row)
    elif row.channel == Channel.ORG_EVENT:
        _fan_out(row)
    elif row.channel == Channel.PUSH:
        _push(row)
    else:  # pragma: no cover - guarded by _enqueue
        raise ApplicationError(f"Unknown channel {row.channel}")
    return None


def _fan_out(row: Outbox) -> None:
    """An organisation's event row: one delivery row per event and subscribed endpoint, each
    delivered (signed, retried, logged) like any webhook; handed over after commit.

    Runs in the event row's delivery, under its lock, in a savepoint: a failure writes no
    delivery and leaves the event row to be retried. A delivery written before (the event
    row delivered twice) is not written again.
    """
    with transaction.atomic():
        links, ids = [], []
        for fields, link in endpoints.deliveries_for(row):
            written, new = _write(**fields, hand_over=False)
            if new:
                link.outbox = written
                links.append(link)
                ids.append(written.pk)
        WebhookDelivery.objects.bulk_create(links)
    outbox_hand_over(ids)


# The channels whose every attempt is logged (WebhookAttempt) and may be replayed.
WEBHOOK_CHANNELS = (Channel.WEBHOOK, Channel.ORG_WEBHOOK)


def _log_attempt(row: Outbox, *, started: float, status: int | None, error: str) -> None:
    if row.channel in WEBHOOK_CHANNELS:
        WebhookAttempt.objects.create(
            outbox=row,
            number=row.attempts,
            duration_ms=int((time.monotonic() - started) * 1000),
            status_code=status,
            error=error[:200],
        )


def _push(row: Outbox) -> None:
    """A browser notification; the recipient is the subscription's id. A subscription that
    is gone (deleted by the customer, or 404/410 from the push service) ends the row."""
    subscription = PushSubscription.objects.filter(pk=int(row.recipient)).first()
    if subscription is None:
        return
    try:
        webpush.send(
            endpoint=subscription.endpoint,
            p256dh=subscription.p256dh,
            auth=subscription.auth,
            payload=json.loads(row.body),
        )
    except webpush.PushGone:
        subscription.delete()


def push_subscribe(*, user: Any, endpoint: Any, p256dh: Any, auth: Any) -> PushSubscription:
    """Keep a customer's browser subscription (one row per endpoint)."""
    if user is None or not user.is_authenticated or user.is_staff:
        raise ApplicationError(_("Only customers subscribe their browser."), code="forbidden")
    values = [endpoint, p256dh, auth]
    if not all(isinstance(v, str) and 0 < len(v) <= 2000 for v in values):
        raise ApplicationError(_("The browser sent an incomplete subscription."), code="invalid")
    if public_http_url(endpoint):
        raise ApplicationError(_("The browser sent an incomplete subscription."), code="invalid")
    digest = hashlib.sha256(endpoint.encode()).hexdigest()
    with transaction.atomic():
        found = lock_or_insert(
            PushSubscription,
            {"endpoint_hash": digest},
            PushSubscription(
                user=user, endpoint=endpoint, endpoint_hash=digest, p256dh=p256dh, auth=auth
            ),
        )
        found.user, found.p256dh, found.auth = user, p256dh, auth
        found.save(update_fields=["user", "p256dh", "auth"])
        return found


def push_unsubscribe(*, user: Any, endpoint: Any) -> int:
    if not isinstance(endpoint, str):
        return 0
    digest = hashlib.sha256(endpoint.encode()).hexdigest()
    deleted, _rows = PushSubscription.objects.filter(user=user, endpoint_hash=digest).delete()
    return deleted


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def outbox_deliver(*, outbox_id: int) -> str:
    """Deliver one row if it is still pending; return what happened.

    The row stays locked while it is sent, so two workers given the same id send it once.
    If the database connection is lost after the message went out (a terminated backend, a
    failover), the lock and the transaction are gone but the send is not: the row is marked
    sent on a new connection (`_record_sent`), so the sweep does not send it a second time.
    """
    sent_at = None
    attempts = 0
    fanned_out = False
    try:
        with transaction.atomic():
            row = Outbox.objects.select_for_update(skip_locked=True).filter(pk=outbox_id).first()
            if row is None:
                return "locked-or-missing"
            if row.status != Status.PENDING:
                return f"already-{row.status}"
            now = timezone.now()
            row.attempts += 1
            started = time.monotonic()
            try:
                status = _send(row)
            except Exception as exc:
                # Exception texts can quote addresses: store only the type (a webhook's
                # text, written by notifications.webhooks, names none: it goes in its log).
                row.last_error = type(exc).__name__[:200]
                text = str(exc) if isinstance(exc, webhooks.WebhookError) else row.last_error
                _log_attempt(row, started=started, status=getattr(exc, "status", None), error=text)
                if row.attempts >= settings.OUTBOX_MAX_ATTEMPTS or getattr(exc, "final", False):
                    row.status = Status.FAILED
                else:
                    row.next_attempt_at = now + _backoff(row.attempts)
                row.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
                log.warning(
                    "outbox %s: delivery failed (%s), attempt %s",
                    row.pk,
                    row.last_error,
                    row.attempts,
                )
                return "failed" if row.status == Status.FAILED else "retry"
            _log_attempt(row, started=started, status=status, error="")
            sent_at, attempts = now, row.attempts
            fanned_out = row.channel == Channel.ORG_EVENT
            row.status = Status.SENT
            row.sent_at = now
            row.last_error = ""
            row.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    except DatabaseError:
        # An event's fan-out "sent" nothing out: its deliveries were in the lost transaction,
        # so the row stays pending for the sweep, to be fanned out again.
        if sent_at is None or fanned_out or connection.in_atomic_block:
            raise  # nothing went out: the row is still pending and the sweep hands it over
        _record_sent(outbox_id=outbox_id, attempts=attempts, sent_at=sent_at)
    return "sent"


def _record_sent(*, outbox_id: int, attempts: int, sent_at: Any) -> None:
    """Mark a row sent after its transaction was lost with the connection, on a new one.

    Retried for a few seconds (a database restarting); if it never answers the error
    propagates and the row may be sent again later (at least once, never lost).
    """
    delay = 0.2
    for attempt in range(6):
        connection.close()  # the old connection is gone; Django opens a new one
        try:
            Outbox.objects.filter(pk=outbox_id, status=Status.PENDING).update(
                status=Status.SENT, sent_at=sent_at, attempts=attempts, last_error=""
            )
        except DatabaseError:
            if attempt == 5:
                raise
            time.sleep(delay)
            delay *= 2
        else:
            log.warning(
                "outbox %s: sent; recorded after the database connection was lost", outbox_id
            )
            return


def outbox_sweep(*, limit: int = 500) -> int:
    """Hand due pending rows to the workers again; return how many were handed over."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS)
    ids = list(
        Outbox.objects.filter(
            status=Status.PENDING, next_attempt_at__lte=now, created_at__lte=grace
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    handed = 0
    for start in range(0, len(ids), DELIVER_BATCH):
        batch = ids[start : start + DELIVER_BATCH]
        if send_now(DELIVER_MANY_TASK, batch):
            handed += len(batch)
        else:
            break  # the broker is down: the next sweep tries again
    return handed


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery, actor: Any) -> Outbox:
    """Send a webhook delivery again, whatever became of it (sent, failed or waiting for its
    next attempt): the same body, event id and Idempotency-Key, signed anew; its attempts
    start again and the log keeps the earlier ones. Audited."""
    row = Outbox.objects.select_for_update().get(pk=delivery.outbox_id)
    if row.channel not in WEBHOOK_CHANNELS:
        raise ApplicationError(_("Only webhook deliveries can be replayed."))
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        raise ApplicationError(
            _("The endpoint is disabled: enable it before replaying its deliveries."),
            code="endpoint_disabled",
        )
    before = {"status": row.status, "attempts": row.attempts}
    row.status = Status.PENDING
    row.attempts = 0
    row.next_attempt_at = timezone.now()
    row.last_error = ""
    row.save(update_fields=["status", "attempts", "next_attempt_at", "last_error"])
    audit_record(
        action="notifications.delivery_replayed",
        actor=actor,
        target=delivery,
        data={
            "organisation": endpoint.organisation_id,
            "endpoint": endpoint.pk,
            "event": delivery.event_id,
            "outbox": row.pk,
            **before,
        },
    )
    enqueue_on_commit(DELIVER_TASK, row.pk)
    return row


@transaction.atomic
def outbox_retry(*, ids: list[int]) -> int:
    """Make failed rows pending again and hand them over after commit."""
    rows = list(Outbox.objects.select_for_update().filter(pk__in=ids, status=Status.FAILED))
    for row in rows:
        row.status = Status.PENDING
        row.attempts = 0
        row.next_attempt_at = timezone.now()
        row.save(update_fields=["status", "attempts", "next_attempt_at"])
        enqueue_on_commit(DELIVER_TASK, row.pk)
    return len(rows)


def render_message(template: str, context: dict[str, Any], *, language: str) -> tuple[str, str]:
    """Render templates/notifications/<template>.subject.txt and .body.txt in a language
    (the desk's default when the person has not chosen one yet)."""
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = render_to_string(f"notifications/{template}.subject.txt", context).strip()
        body = render_to_string(f"notifications/{template}.body.txt", context)
    return one_line(subject), body


def password_changed_notice(*, user: Any) -> Outbox:
    """Tell the owner that their password changed (hook of accounts)."""
    subject, body = render_message(
        "email/password_changed",
        {"user": user, "site_url": settings.SITE_URL},
        language=user.language,
    )
    return _enqueue(
        key=f"password-changed:{user.pk}:{uuid.uuid4().hex}",
        channel=Channel.EMAIL,
        recipient=user.email,
        subject=subject,
        body=body,
        language=user.language,
        about=user,
    )


def password_reset_notice(*, user: Any, link: str) -> Outbox:
    """Send a password reset link (hook of accounts), in the user's language."""
    subject, body = render_message(
        "email/password_reset", {"user": user, "link": link}, language=user.language
    )
    return _enqueue(
        key=f"password-reset:{user.pk}:{uuid.uuid4().hex}",
        channel=Channel.EMAIL,
        recipient=user.email,
        subject=subject,
        body=body,
        language=user.language,
        about=user,
    )


def outbox_metrics():
    """Yield the outbox backlog for /metrics (pending count and age of the oldest)."""
    counts = GaugeMetricFamily(
        "welddesk_outbox_messages", "Outbox messages by status.", labels=["status"]
    )
    by_status = dict(
        Outbox.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    for status in Status.values:
        counts.add_metric([status], by_status.get(status, 0))
    yield counts
    oldest = Outbox.objects.filter(status=Status.PENDING).aggregate(t=Min("created_at"))["t"]
    age = GaugeMetricFamily(
        "welddesk_outbox_oldest_pending_seconds", "Age of the oldest pending outbox message."
    )
    age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
    yield age


@transaction.atomic
def notifications_erase_person(*, user: Any, marks: Any, actor: Any) -> dict[str, int]:
    """Erasure: the person's browser subscriptions, and every outbox row sent to them or
    naming them, their browsers' and their webhook's too (read in chunks and compared after
    decryption: recipients have no index)."""
    from notifications.selectors import person_addresses

    theirs = person_addresses(user)
    pushes, _ = PushSubscription.objects.filter(user=user).delete()
    rows = Outbox.objects.only("channel", "recipient", "subject", "body")
    doomed = [
        row.pk
        for row in rows.iterator(chunk_size=2000)
        if (row.channel, (row.recipient or "").lower()) in theirs
        or marks.found_in(row.recipient)
        or marks.found_in(row.subject)
        or marks.found_in(row.body)
    ]
    deleted = 0
    for start in range(0, len(doomed), 500):
        deleted += _outbox_delete(Outbox.objects.filter(pk__in=doomed[start : start + 500]))
    counts = {"push_subscriptions": pushes, "outbox": deleted}
    audit_record(action="notifications.person_erased", actor=actor, target=user, data=counts)
    return counts


def outbox_expire(*, created_before: Any, dry_run: bool) -> dict[str, int]:
    """Retention: delivered or given-up notices are deleted (pending ones are kept)."""
    old = Outbox.objects.filter(created_at__lt=created_before).exclude(status=Status.PENDING)
    count = old.count()
    if not dry_run and count:
        _outbox_delete(old)
    return {"outbox": count}


def _outbox_delete(rows: models.QuerySet, *, chunk: int = 5000) -> int:
    """Delete outbox rows and their webhook log (deliveries, attempts), a chunk at a time:
    the rows locked first (a worker delivering one finishes, or skips it), then three deletes
    by id, no row read into memory (the log's keys are DO_NOTHING, so Django need not collect
    the rows to cascade). Return how many outbox rows went."""
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(rows.order_by("pk").values_list("pk", flat=True)[:chunk])
            if not ids:
                return deleted
            list(Outbox.objects.select_for_update().filter(pk__in=ids).values_list("pk"))
            WebhookAttempt.objects.filter(outbox_id__in=ids).delete()
            WebhookDelivery.objects.filter(outbox_id__in=ids).delete()
            deleted += Outbox.objects.filter(pk__in=ids).delete()[0]
