"""Reads of the audit chain: verification against the signed checkpoints, metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from audit import chain, checkpoints, signing
from audit.models import AuditCheckpoint, AuditEvent, ChainHead, PendingAuditEvent

# The triggers of audit/migrations/0002 and 0005 (PostgreSQL): table -> trigger names.
PROTECTING_TRIGGERS = {
    "audit_auditevent": ("audit_event_append_only", "audit_event_no_truncate"),
    "audit_chainhead": ("audit_chainhead_forward_only", "audit_chainhead_no_truncate"),
    "audit_pendingauditevent": (
        "audit_pending_no_update",
        "audit_pending_sealed_only",
        "audit_pending_no_truncate",
    ),
    "audit_auditcheckpoint": ("audit_checkpoint_append_only", "audit_checkpoint_no_truncate"),
}


def chain_head() -> tuple[int, str] | None:
    """Return the stored head (seq, hash), or None when there is no head row."""
    return ChainHead.objects.filter(pk=1).values_list("seq", "hash").first()


def last_event() -> tuple[int, str] | None:
    """(seq, hash) of the newest event, or None for an empty chain."""
    return AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()


def event_hash(seq: int) -> str | None:
    """The hash of the event at seq, or None when there is none."""
    return AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()


def chain_rows(
    *, after: int = 0, through: int | None = None, chunk_size: int = 5000
) -> Iterator[dict[str, Any]]:
    """Yield the events after seq `after` (up to `through`) in seq order, hashed fields only."""
    events = AuditEvent.objects.filter(seq__gt=after)
    if through is not None:
        events = events.filter(seq__lte=through)
    return events.order_by("seq").values(*chain.HASHED_FIELDS, "hash").iterator(chunk_size)


def chain_verify(
    *, anchors: Iterable[chain.Anchor] = (), chunk_size: int = 5000
) -> chain.Verification:
    """Verify the whole chain in seq order against the stored head and the anchors."""
    return chain.verify_rows(chain_rows(chunk_size=chunk_size), head=chain_head(), anchors=anchors)


def stored_checkpoint(row: AuditCheckpoint) -> checkpoints.Checkpoint:
    """Return the signed checkpoint a database row copies (its signature unchecked)."""
    return checkpoints.Checkpoint(
        seq=row.seq,
        hash=row.hash,
        at=chain.format_time(row.at),
        public_key=row.public_key,
        signature=row.signature,
    )


def latest_stored_checkpoint(*, trusted: Iterable[str]) -> checkpoints.Checkpoint | None:
    """The newest checkpoint row of the database whose signature holds (None if none)."""
    trusted = set(trusted)
    for row in AuditCheckpoint.objects.order_by("-id")[:100]:
        checkpoint = stored_checkpoint(row)
        if not signing.verify(checkpoint.body(), trusted=trusted):
            return checkpoint
    return None


def protection_problems() -> list[str]:
    """Name every protecting trigger that is missing or disabled (PostgreSQL; else none).

    An attacker who disables a trigger and forgets to enable it again is seen here; one who
    enables it again is caught by the checkpoints instead.
    """
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relname = ANY(%s) AND NOT t.tgisinternal",
            [list(PROTECTING_TRIGGERS)],
        )
        state = {(table, name): enabled for table, name, enabled in cursor.fetchall()}
    problems = []
    for table, names in PROTECTING_TRIGGERS.items():
        for name in names:
            enabled = state.get((table, name))
            if enabled is None:
                problems.append(f"trigger {name} on {table} is missing")
            elif enabled not in ("O", "A"):
                problems.append(f"trigger {name} on {table} is disabled")
    return problems


@dataclass
class Report:
    """What `audit_verify` found: the chain, the checkpoints and the protecting triggers."""

    verification: chain.Verification
    problems: list[str] = field(default_factory=list)
    checkpoints: int = 0
    latest: checkpoints.Checkpoint | None = None
    pending: int = 0
    store: str = ""

    @property
    def ok(self) -> bool:
        return self.verification.ok and not self.problems


def audit_verification(*, checkpoint_path: str) -> Report:
    """Verify the chain against every signed checkpoint of the store at checkpoint_path and
    of the database, and check the triggers that protect it.

    A line of the store that is not a trusted key's valid signature is a problem in itself
    (someone wrote to the store who should not have). A store without any checkpoint while
    the database recorded some means the store was lost or replaced.
    """
    trusted = signing.trusted_public_keys()
    reading = checkpoints.FileStore(checkpoint_path).read(trusted=trusted)
    problems = [f"audit checkpoints: {problem}" for problem in reading.problems]
    found = {c: c for c in reading.checkpoints}  # equal fields count once
    stored = 0
    for row in AuditCheckpoint.objects.order_by("id").iterator(chunk_size=2000):
        stored += 1
        checkpoint = stored_checkpoint(row)
        if checkpoint in found:
            continue
        problem = signing.verify(checkpoint.body(), trusted=trusted)
        if problem:
            problems.append(f"audit checkpoints: database checkpoint {row.pk} is void: {problem}")
        else:
            found[checkpoint] = checkpoint
    if stored and not reading.checkpoints:
        latest_row = AuditCheckpoint.objects.order_by("-id").first()
        problems.append(
            f"audit checkpoints: {checkpoint_path} holds no checkpoint, but the database "
            f"recorded {stored} (the latest at seq {latest_row.seq} on "
            f"{chain.format_time(latest_row.at)}): the store was lost or replaced"
        )
    anchors = [c.anchor for c in found]
    verification = chain_verify(anchors=anchors)
    problems += [f"audit protection: {problem}" for problem in protection_problems()]
    return Report(
        verification=verification,
        problems=problems,
        checkpoints=len(found),
        latest=max(found, key=lambda c: (c.at, c.seq), default=None),
        pending=PendingAuditEvent.objects.count(),
        store=checkpoint_path,
    )


def audit_metrics(*, now: dt.datetime | None = None) -> Iterator[GaugeMetricFamily]:
    """Yield the chain head and the latest checkpoint for /metrics.

    Prometheus keeps them outside the database: a head that goes back, or a checkpoint that
    stops advancing, shows in its history whatever happens to the tables afterwards.
    """
    head = chain_head()
    yield GaugeMetricFamily(
        "welddesk_audit_chain_head_seq",
        "Sequence number of the last event sealed into the audit chain.",
        value=head[0] if head else 0,
    )
    pending = PendingAuditEvent.objects.aggregate(n=Count("pk"), oldest=Min("at"))
    yield GaugeMetricFamily(
        "welddesk_audit_pending_events",
        "Audit events written but not yet sealed into the chain.",
        value=pending["n"],
    )
    # The sealing lag: a count alone cannot tell a busy minute from a stopped sealer (beat or
    # the workers down), the age of the oldest unsealed event can.
    oldest = pending["oldest"]
    yield GaugeMetricFamily(
        "welddesk_audit_oldest_pending_seconds",
        "Age of the oldest audit event not yet sealed into the chain (0: none pending).",
        value=max(((now or timezone.now()) - oldest).total_seconds(), 0.0) if oldest else 0.0,
    )
    latest = AuditCheckpoint.objects.order_by("-id").values_list("seq", "at", "hash").first()
    seq, at, digest = latest if latest else (0, None, "0" * 64)
    yield GaugeMetricFamily(
        "welddesk_audit_checkpoint_seq",
        "Events covered by the latest signed audit checkpoint.",
        value=seq,
    )
    yield GaugeMetricFamily(
        "welddesk_audit_checkpoint_timestamp_seconds",
        "When the latest signed audit checkpoint was made (Unix time; 0: never).",
        value=at.timestamp() if at else 0,
    )
    yield GaugeMetricFamily(
        "welddesk_audit_checkpoint_hash_prefix",
        "The first 13 hex digits of the latest checkpoint's hash as a number (exact in a "
        "float), so monitoring history keeps the hash as well as the seq.",
        value=int(digest[:13], 16),
    )


def person_activity(*, user_pk: int, limit: int = 50_000) -> list[dict]:
    """Audit events the person caused or that concern their account (references only)."""
    ref = f"user:{user_pk}"
    events = AuditEvent.objects.filter(actor_ref=ref) | AuditEvent.objects.filter(
        target_type="accounts.user", target_id=str(user_pk)
    )
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "action": e.action,
            "target": f"{e.target_type}:{e.target_id}" if e.target_type else "",
            "by_you": e.actor_ref == ref,
        }
        for e in events.order_by("seq")[:limit]
    ]


def target_events(
    *, target_type: str, target_id: Any, since: Any, actions: Iterable[str], limit: int = 50
) -> list[dict[str, Any]]:
    """The events about one record after `since`, oldest first: sealed and still pending.

    The workspace shows an agent whose change was refused as stale what others did since
    they opened the ticket; with deferred sealing the newest events are still pending rows.
    """
    fields = ("at", "actor_ref", "action", "changed_fields", "data")
    lookup = {
        "target_type": target_type,
        "target_id": str(target_id),
        "at__gt": since,
        "action__in": list(actions),
    }
    rows = {}
    for model in (AuditEvent, PendingAuditEvent):
        for row in model.objects.filter(**lookup).order_by("-at").values(*fields)[:limit]:
            # A row sealed while this read ran is in both tables once: keep one.
            rows[(row["at"], row["actor_ref"], row["action"])] = row
    return sorted(rows.values(), key=lambda row: row["at"])[-limit:]
