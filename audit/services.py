"""The one way to write the audit chain."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from audit import chain
from audit.models import AuditEvent, ChainHead, Outcome, PendingAuditEvent
from core import context, pii


def actor_ref_for(actor: Any) -> str:
    """Return the reference stored for an actor: 'user:<id>', 'api_key:<id>', 'system'..."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    ref = getattr(actor, "audit_ref", None)
    if ref:
        return ref
    if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) is not None:
        return f"user:{actor.pk}"
    return "anonymous"


def target_ref_for(target: models.Model | None) -> tuple[str, str]:
    if target is None:
        return "", ""
    return target._meta.label_lower, str(target.pk)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


log = logging.getLogger(__name__)
# Columns of an event that exist before it is sealed (everything but seq and the hashes).
EVENT_FIELDS = (
    "at",
    "actor_ref",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "changed_fields",
    "data",
    "ip",
    "request_id",
)


def deferred() -> bool:
    """True when events are sealed after commit (AUDIT_SEALING=deferred)."""
    return settings.AUDIT_SEALING == "deferred"


def _lock_head(*, skip_locked: bool = False) -> ChainHead | None:
    """Lock the chain head; with skip_locked, return None if another sealer holds it."""
    if skip_locked and connection.features.has_select_for_update_skip_locked:
        head = ChainHead.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        if head is not None:
            return head
        if ChainHead.objects.filter(pk=1).exists():
            return None  # locked by another sealer
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # The head row is missing (a fresh or flushed database): rebuild it from the last event.
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, digest = last if last else (0, chain.GENESIS_HASH)
        ChainHead.objects.bulk_create(
            [ChainHead(pk=1, seq=seq, hash=digest)], ignore_conflicts=True
        )
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def _payload(
    *,
    model: type[models.Model] | None,
    changes: Mapping[str, Any] | Iterable[str] | None,
    data: Mapping[str, Any] | None,
) -> tuple[list[str], dict[str, Any]]:
    changed: list[str] = []
    values: dict[str, Any] = {}
    if changes:
        items = (
            changes.items() if isinstance(changes, Mapping) else ((name, None) for name in changes)
        )
        for name, value in items:
            changed.append(name)
            if isinstance(changes, Mapping) and not pii.is_personal(model, name):
                values[name] = value
    payload = dict(data or {})
    if values:
        payload["values"] = values
    return sorted(changed), _json_safe(payload)


def audit_record(
    *,
    action: str,
    actor: Any = None,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    changes: Mapping[str, Any] | Iterable[str] | None = None,
    data: Mapping[str, Any] | None = None,
    outcome: str = Outcome.SUCCESS,
    ip: str | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction.

    `changes` maps changed field names to their new values (or is a list of names); values of
    personal-data fields are dropped and only their names kept. `data` is context that the
    caller guarantees is free of personal data (reason codes, counts, references).
    The chain head is locked until the caller commits, so concurrent writers queue in order
    and the sequence has no gaps and no forks.
    """
    model = type(target) if target is not None else None
    if target is not None:
        target_type, target_id = target_ref_for(target)
    changed, payload = _payload(model=model, changes=changes, data=data)
    ctx = context.current()
    if deferred():
        pending = PendingAuditEvent.objects.create(
            at=timezone.now(),
            actor_ref=actor_ref_for(actor),
            action=action,
            outcome=str(outcome),
            target_type=target_type,
            target_id=str(target_id),
            changed_fields=changed,
            data=payload,
            ip=ip if ip is not None else ctx.ip,
            request_id=request_id if request_id is not None else ctx.request_id,
        )
        _seal_after_commit()
        return pending
    # No savepoint: if the audit row cannot be written, the caller's whole transaction fails.
    with transaction.atomic(savepoint=False):
        head = _lock_head()
        row = {
            "seq": head.seq + 1,
            "at": timezone.now(),
            "actor_ref": actor_ref_for(actor),
            "action": action,
            "outcome": str(outcome),
            "target_type": target_type,
            "target_id": str(target_id),
            "changed_fields": changed,
            "data": payload,
            "ip": ip if ip is not None else ctx.ip,
            "request_id": request_id if request_id is not None else ctx.request_id,
            "prev_hash": head.hash,
        }
        row["hash"] = chain.compute_hash(row)
        event = AuditEvent.objects.create(**row)
        ChainHead.objects.filter(pk=1).update(seq=row["seq"], hash=row["hash"])
    return event


def audit_record_many(
    *,
    action: str,
    actor: Any = None,
    targets: Iterable[models.Model],
    changes: Mapping[str, Any] | Iterable[str] | None = None,
    data: Mapping[str, Any] | None = None,
    per_target: Mapping[Any, Mapping[str, Any]] | None = None,
    batch_size: int = 1000,
) -> int:
    """Append one event per target in a single locked pass; return how many were written.

    For set-based operations (an escalation scan, a bulk action): the same action, actor and
    changes for every target, optional extra data per target pk, one insert per batch.
    """
    targets = list(targets)
    if not targets:
        return 0
    ctx = context.current()
    actor_ref = actor_ref_for(actor)
    now = timezone.now()
    events = []
    for target in targets:
        extra = dict(data or {})
        if per_target and target.pk in per_target:
            extra.update(per_target[target.pk])
        changed, payload = _payload(model=type(target), changes=changes, data=extra)
        events.append(
            {
                "at": now,
                "actor_ref": actor_ref,
                "action": action,
                "outcome": str(Outcome.SUCCESS),
                "target_type": target._meta.label_lower,
                "target_id": str(target.pk),
                "changed_fields": changed,
                "data": payload,
                "ip": ctx.ip,
                "request_id": ctx.request_id,
            }
        )
    if deferred():
        PendingAuditEvent.objects.bulk_create(
            [PendingAuditEvent(**event) for event in events], batch_size=batch_size
        )
        _seal_after_commit()
        return len(events)
    with transaction.atomic(savepoint=False):
        head = _lock_head()
        _append(head, events, batch_size=batch_size)
    return len(events)


def _append(head: ChainHead, events: list[dict[str, Any]], *, batch_size: int = 1000) -> None:
    """Chain events after the locked head, insert them and move the head."""
    seq, prev = head.seq, head.hash
    rows = []
    for event in events:
        seq += 1
        row = {**event, "seq": seq, "prev_hash": prev}
        row["hash"] = prev = chain.compute_hash(row)
        rows.append(AuditEvent(**row))
    AuditEvent.objects.bulk_create(rows, batch_size=batch_size)
    ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)


def audit_seal(*, limit: int = 5000, wait: bool = True) -> int:
    """Move pending events into the chain, oldest first, in locked batches; return how many.

    With wait=False a sealer that finds the head locked returns at once: the sealer holding
    it, or the next one, takes the rows.
    """
    sealed = 0
    while True:
        with transaction.atomic():
            head = _lock_head(skip_locked=not wait)
            if head is None:
                return sealed
            pending = list(PendingAuditEvent.objects.order_by("id")[:limit])
            if not pending:
                return sealed
            events = [{name: getattr(p, name) for name in EVENT_FIELDS} for p in pending]
            _append(head, events)
            PendingAuditEvent.objects.filter(id__in=[p.id for p in pending]).delete()
        sealed += len(pending)
        if len(pending) < limit:
            return sealed


def _seal_quietly() -> None:
    try:
        audit_seal(wait=False)
    except Exception:  # the periodic sealer retries; the request has committed already
        log.exception("audit sealing after commit failed; beat will retry")


def _seal_after_commit() -> None:
    """Seal once after the current transaction commits (one callback per transaction).

    Only with AUDIT_SEAL_AFTER_COMMIT: by default the periodic sealer (beat, every few
    seconds) does it, so a request spends no statements on the chain at all.
    """
    if not settings.AUDIT_SEAL_AFTER_COMMIT:
        return
    if any(entry[1] is _seal_quietly for entry in connection.run_on_commit):
        return
    transaction.on_commit(_seal_quietly)
